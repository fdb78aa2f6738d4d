/**
 * Queries built with kysely once and run many times. Building a query
 * allocates an immutable tree and compiling walks it: on the quota path
 * (every answer reserves and settles) that was most of the store's CPU and
 * of the garbage behind the quota check's tail. A prepared query is built
 * with marker values, compiled once per SQL dialect, and each run only fills
 * the parameter list: the same SQL text, so SQLite's statement cache hits too.
 */
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import type { Database } from './schema.ts';

type Slot = { param: number } | { value: unknown };

interface Template {
  sql: string;
  slots: Slot[];
}

const MARK = '\u0000switchboard-param-';

export interface Prepared<A extends unknown[]> {
  run<R = Record<string, unknown>>(db: Kysely<Database>, ...args: A): Promise<QueryResult<R>>;
}

/**
 * `build` gets markers in place of its `arity` values and must pass each one
 * to kysely as a value (where, values, set), never inline it; this is checked
 * when the query is first compiled. Values the query fixes itself stay fixed.
 */
export function prepare<A extends unknown[]>(arity: number, build: (db: Kysely<Database>, ...values: A) => Compilable<unknown>): Prepared<A> {
  // One template per dialect (SQLite and PostgreSQL write parameters differently).
  const templates = new WeakMap<object, Template>();

  const compile = (db: Kysely<Database>): Template => {
    const markers = Array.from({ length: arity }, (_, i) => `${MARK}${i}`) as A;
    const { sql, parameters } = build(db, ...markers).compile();
    if (sql.includes(MARK)) throw new Error('a prepared query inlined one of its values; pass it as a parameter');
    const slots = parameters.map((p): Slot => (typeof p === 'string' && p.startsWith(MARK) ? { param: Number(p.slice(MARK.length)) } : { value: p }));
    const used = new Set(slots.flatMap((s) => ('param' in s ? [s.param] : [])));
    if (used.size !== arity) throw new Error(`a prepared query uses ${used.size} of its ${arity} values`);
    return { sql, slots };
  };

  return {
    run<R>(db: Kysely<Database>, ...args: A) {
      const key = db.getExecutor().adapter;
      let template = templates.get(key);
      if (template === undefined) {
        template = compile(db);
        templates.set(key, template);
      }
      const parameters = template.slots.map((slot) => ('param' in slot ? args[slot.param] : slot.value));
      return db.executeQuery<R>(CompiledQuery.raw(template.sql, parameters));
    },
  };
}
