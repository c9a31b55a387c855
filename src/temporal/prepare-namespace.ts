import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { BATCH_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/search-attributes';
import type { AppConfig } from '../config/config';

/** The names of the custom search attributes set on every batch workflow, so the Web UI can filter batches. */
export const BATCH_SEARCH_ATTRIBUTES = BATCH_SEARCH_ATTRIBUTE_KEYS.map((key) => key.name);

type Services = Pick<Connection | NativeConnection, 'workflowService' | 'operatorService'>;

/** gRPC status codes the checks tell apart. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const grpcCode = (err: unknown): number | undefined => (err as { code?: number }).code;

/** What preparing a namespace needs. */
export interface NamespaceSettings {
  namespace: string;
  /** How long a namespace registered here keeps closed workflows. */
  retentionDays: number;
  /** How long to wait for a new namespace or new search attributes to become usable. */
  timeoutMs?: number;
}

/** The namespace settings of a configuration. */
export const namespaceSettings = (
  config: Pick<AppConfig, 'TEMPORAL_NAMESPACE' | 'TEMPORAL_NAMESPACE_RETENTION_DAYS'>,
) => ({
  namespace: config.TEMPORAL_NAMESPACE,
  retentionDays: config.TEMPORAL_NAMESPACE_RETENTION_DAYS,
});

/**
 * Makes the namespace ready for batches on a fresh cluster: registers it when it is missing (a real server has no
 * `default` namespace until someone creates it), registers the batch search attributes (Keyword) that are missing,
 * and waits until both are usable (a real server takes a while to spread new ones to its frontends). Safe for many
 * processes starting at once.
 */
export async function prepareNamespace(connection: Services, settings: NamespaceSettings): Promise<void> {
  const deadline = Date.now() + (settings.timeoutMs ?? 60_000);
  await ensureNamespace(connection, settings, deadline);
  await ensureSearchAttributes(connection, settings.namespace, deadline);
}

async function ensureNamespace(connection: Services, settings: NamespaceSettings, deadline: number): Promise<void> {
  const { namespace } = settings;
  const describe = () => connection.workflowService.describeNamespace({ namespace });
  try {
    await describe();
    return;
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(settings.retentionDays * 86400 * 1000),
      description: 'Batches of the self-hosted Batch API',
    });
    console.log(`registered Temporal namespace '${namespace}' (retention ${settings.retentionDays} days)`);
  } catch (err) {
    if (grpcCode(err) !== ALREADY_EXISTS) {
      throw new Error(
        `Temporal namespace '${namespace}' does not exist and could not be created: ${(err as Error).message}. ` +
          `Create it (temporal operator namespace create --namespace ${namespace}, or in Temporal Cloud) or set ` +
          'TEMPORAL_NAMESPACE to one that exists.',
        { cause: err },
      );
    }
  }
  // Each frontend service caches namespaces: the operator API sees a new one a few seconds after it exists.
  await until(deadline, `namespace '${namespace}' to become usable`, async () => {
    await describe();
    await connection.operatorService.listSearchAttributes({ namespace });
    return true;
  });
}

/** Registers the missing batch search attributes and waits until a query naming all of them is accepted. */
export async function ensureSearchAttributes(
  connection: Services,
  namespace: string,
  deadline = Date.now() + 60_000,
): Promise<void> {
  await until(deadline, 'the batch search attributes to be registered', async () => {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const present = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = BATCH_SEARCH_ATTRIBUTES.filter((name) => !present.has(name));
    if (missing.length === 0) return true;
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((name) => [name, keyword])),
      });
    } catch (err) {
      // Another process registered them first; the next look finds them.
      if (grpcCode(err) !== ALREADY_EXISTS) throw err;
    }
    return false;
  });
  const query = BATCH_SEARCH_ATTRIBUTES.map((name) => `${name} = 'ready-check'`).join(' AND ');
  await until(deadline, `search attributes ${BATCH_SEARCH_ATTRIBUTES.join(', ')} to become usable`, async () => {
    await connection.workflowService.countWorkflowExecutions({ namespace, query });
    return true;
  });
}

/** Polls `check` (a throw counts as not yet) until it returns true; past the deadline, fails saying what it waited for. */
async function until(deadline: number, what: string, check: () => Promise<boolean>): Promise<void> {
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}: ${(last as Error | undefined)?.message ?? 'not ready'}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
