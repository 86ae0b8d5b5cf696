// SQLite implementation of the store (node:sqlite, WAL mode). Every write is
// committed before the promise resolves, so the API can answer afterwards.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { BerthError, conflict } from '../../core/errors.ts';
import type { Operation, Store, StoreChange, Stored } from '../store.ts';

export class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly watchers = new Set<(c: StoreChange) => void>();
  /** Compiled statements by their SQL: every API call reads the store, and compiling costs more than the lookup. */
  private readonly statements = new Map<string, StatementSync>();

  constructor(file: string) {
    this.db = new DatabaseSync(file);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS records (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta VALUES ('revision', 0);
    `);
  }

  private prepared(sql: string): StatementSync {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  async get<T>(kind: string, key: string): Promise<Stored<T> | undefined> {
    const row = this.prepared('SELECT value, version FROM records WHERE kind = ? AND key = ?').get(kind, key) as
      | { value: string; version: number }
      | undefined;
    return row ? { key, value: JSON.parse(row.value) as T, version: row.version } : undefined;
  }

  async list<T>(kind: string, prefix = ''): Promise<Stored<T>[]> {
    const rows = this.db
      .prepare('SELECT key, value, version FROM records WHERE kind = ? AND substr(key, 1, ?) = ? ORDER BY key')
      .all(kind, prefix.length, prefix) as { key: string; value: string; version: number }[];
    return rows.map((r) => ({ key: r.key, value: JSON.parse(r.value) as T, version: r.version }));
  }

  async txn(ops: Operation[]): Promise<number> {
    const changes: StoreChange[] = [];
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const { value: current } = this.prepared("SELECT value FROM meta WHERE name = 'revision'").get() as { value: number };
      const revision = current + 1;
      const versionOf = this.prepared('SELECT version FROM records WHERE kind = ? AND key = ?');
      const upsert = this.prepared(
        'INSERT INTO records (kind, key, value, version) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, version = excluded.version',
      );
      const remove = this.prepared('DELETE FROM records WHERE kind = ? AND key = ?');
      for (const op of ops) {
        if (op.ifVersion !== undefined) {
          const row = versionOf.get(op.kind, op.key) as { version: number } | undefined;
          if ((row?.version ?? 0) !== op.ifVersion) throw conflict(`${op.kind} ${op.key} was changed concurrently or already exists`);
        }
        if (op.op === 'put') {
          upsert.run(op.kind, op.key, JSON.stringify(op.value), revision);
          changes.push({ revision, kind: op.kind, key: op.key, value: op.value });
        } else {
          remove.run(op.kind, op.key);
          changes.push({ revision, kind: op.kind, key: op.key, value: undefined });
        }
      }
      this.prepared("UPDATE meta SET value = ? WHERE name = 'revision'").run(revision);
      this.db.exec('COMMIT');
      for (const c of changes) for (const w of this.watchers) w(c);
      return revision;
    } catch (err) {
      this.db.exec('ROLLBACK');
      if (err instanceof BerthError) throw err;
      throw err;
    }
  }

  put(kind: string, key: string, value: unknown, ifVersion?: number): Promise<number> {
    return this.txn([{ op: 'put', kind, key, value, ifVersion }]);
  }

  delete(kind: string, key: string, ifVersion?: number): Promise<number> {
    return this.txn([{ op: 'delete', kind, key, ifVersion }]);
  }

  /** SQLite keeps no change history: watching delivers changes made from now on in this process. */
  watch(_fromRevision: number, fn: (change: StoreChange) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
