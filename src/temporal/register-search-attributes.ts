import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { BATCH_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/search-attributes';

/** The names of the custom search attributes set on every batch workflow, so the Web UI can filter batches. */
export const BATCH_SEARCH_ATTRIBUTES = BATCH_SEARCH_ATTRIBUTE_KEYS.map((key) => key.name);

/** Registers any missing batch search attributes (all Keyword) through the operator API. */
export async function ensureSearchAttributes(
  connection: Pick<Connection | NativeConnection, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const present = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = BATCH_SEARCH_ATTRIBUTES.filter((name) => !present.has(name));
  if (missing.length === 0) return;
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((name) => [name, keyword])),
  });
}
