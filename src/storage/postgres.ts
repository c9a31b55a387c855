import {
  OperationNodeTransformer,
  PostgresDialect,
  PrimitiveValueListNode,
  ValueNode,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { Pool, types, type CustomTypesConfig } from 'pg';

/** True for a postgres:// or postgresql:// DATABASE_URL. */
export const isPostgresUrl = (url: string | undefined): url is string => /^postgres(ql)?:\/\//.test(url ?? '');

/**
 * int8 (bigint columns, bigserial `seq`, count(*)) and numeric (sums) arrive as strings by default, because they can
 * pass 2^53. Every value here is a count, a size or a Unix time far below that, so this pool parses them as numbers.
 * Scoped to the pool rather than set on pg's global type registry.
 */
const numericTypes: CustomTypesConfig = {
  getTypeParser: (oid, format) =>
    oid === types.builtins.INT8 || oid === types.builtins.NUMERIC ? Number : types.getTypeParser(oid, format),
};

/** A Kysely dialect over a pg pool of at most `poolSize` connections. */
export function postgresDialect(url: string, poolSize: number): PostgresDialect {
  const pool = new Pool({
    connectionString: url,
    max: poolSize,
    types: numericTypes,
    // Bounds both a new connection and the wait for a free one, so an unreachable server fails instead of hanging.
    connectionTimeoutMillis: 10000,
  });
  // An idle connection the server closed (restart, failover) emits here; the pool has already dropped it and the
  // next query opens a new one. Without a listener the process would crash on it.
  pool.on('error', () => undefined);
  return new PostgresDialect({ pool });
}

const withoutNul = (value: unknown): unknown =>
  typeof value === 'string' && value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;

class NulTransformer extends OperationNodeTransformer {
  protected override transformValue(node: ValueNode): ValueNode {
    const value = withoutNul(node.value);
    if (value === node.value) return node;
    return node.immediate ? ValueNode.createImmediate(value) : ValueNode.create(value);
  }

  protected override transformPrimitiveValueList(node: PrimitiveValueListNode): PrimitiveValueListNode {
    return node.values.some((v) => withoutNul(v) !== v)
      ? PrimitiveValueListNode.create(node.values.map(withoutNul))
      : node;
  }
}

/**
 * PostgreSQL text cannot hold U+0000, which SQLite stores like any other character, and hostile input can carry one
 * (an id in a URL, a model name in an input line). Query values get U+FFFD in its place: a lookup then finds nothing
 * instead of failing, and a stored value keeps the rest of its text.
 */
export class NulCharacterPlugin implements KyselyPlugin {
  readonly #transformer = new NulTransformer();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#transformer.transformNode(args.node, args.queryId);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** The URL with any password replaced by ***, for messages (up to the last @, so an unescaped @ cannot leak a part). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:).*@/i, '$1***@').replace(/([?&]password=)[^&]*/gi, '$1***');
}

/** A readable reason for a connection or migration error (a refused dual-stack connect has an empty message). */
export function errorReason(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return err.errors.map(errorReason).join('; ');
  if (err instanceof Error) return err.message || (err as NodeJS.ErrnoException).code || err.name;
  return String(err);
}
