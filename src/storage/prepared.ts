import type { Compilable, CompiledQuery, Kysely, Selectable } from 'kysely';
import type { Database } from './schema';

const MARK = '\u0002param\u0002';

/**
 * A read that Kysely builds and compiles once, then runs with new parameter values. Building and compiling a
 * query took about a fifth of the API's time per `GET /v1/batches/{id}` under load; the SQL text is the same
 * every time, only the values change.
 *
 * `build` receives a marker for each argument; the compiled parameters are matched back to the arguments by
 * marker, so their order in the SQL does not matter. Query plugins run at compile time and see only the
 * markers, so string values get the one transformation a plugin makes here: U+0000, which PostgreSQL text
 * cannot hold, becomes U+FFFD (ids never contain either, so a lookup finds nothing, as it would anyway).
 */
export function prepared<A extends string[], R>(
  db: Kysely<never>,
  arity: A['length'],
  build: (...args: A) => Compilable<R>,
): (...args: A) => Promise<R[]> {
  let compiled: CompiledQuery<R> | undefined;
  let slots: ({ arg: number } | { value: unknown })[] = [];
  return async (...args: A) => {
    if (!compiled) {
      const marks = Array.from({ length: arity }, (_, i) => `${MARK}${i}`) as A;
      compiled = build(...marks).compile();
      slots = compiled.parameters.map((p) => {
        const i = typeof p === 'string' && p.startsWith(MARK) ? Number(p.slice(MARK.length)) : -1;
        return i >= 0 ? { arg: i } : { value: p };
      });
    }
    // eslint-disable-next-line no-control-regex
    const parameters = slots.map((s) => ('arg' in s ? args[s.arg].replace(/\u0000/g, '\uFFFD') : s.value));
    return (await db.executeQuery<R>({ ...compiled, parameters })).rows;
  };
}

/** The two id lookups every owned table has, prepared once: by owner and id (API side) and by id alone. */
export function idLookups<T extends 'files' | 'batches'>(db: Kysely<Database>, table: T) {
  type Lookup<A extends string[]> = (...args: A) => Promise<Selectable<Database[T]>[]>;
  // Both tables have `owner` and `id`, which Kysely cannot see through a union of table names: the queries are
  // built against one table type naming just those columns, under the real table's name.
  const owned = db as unknown as Kysely<{ owned: { owner: string; id: string } }>;
  const from = () => owned.selectFrom(table as unknown as 'owned').selectAll();
  const k = db as unknown as Kysely<never>;
  return {
    byOwnerAndId: prepared(k, 2, (owner: string, id: string) =>
      from().where('owner', '=', owner).where('id', '=', id),
    ) as unknown as Lookup<[owner: string, id: string]>,
    byId: prepared(k, 1, (id: string) => from().where('id', '=', id)) as unknown as Lookup<[id: string]>,
  };
}
