// SQLite implementation of the store (node:sqlite, WAL mode). Every write is
// committed before the promise resolves, so the API can answer afterwards.
// This process is the database's only writer, so the rows of a kind, once
// listed, are also kept as their JSON text in memory and updated with each
// commit: `docker ps` with 500 containers spent as long fetching 2 MB of
// rows out of SQLite as parsing them. listShared() also keeps each row's
// parsed value, frozen, until the row changes: ps then parses nothing.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { BerthError, conflict } from '../../core/errors.ts';
import type { Operation, Store, StoreChange, Stored } from '../store.ts';

export class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly watchers = new Set<(c: StoreChange) => void>();
  /** Compiled statements by their SQL: every API call reads the store, and compiling costs more than the lookup. */
  private readonly statements = new Map<string, StatementSync>();
  /** kind -> key -> row, for the kinds list() has loaded; the database stays the truth. */
  private readonly rows = new Map<string, Map<string, Row>>();

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
    const cached = this.rows.get(kind);
    const row = cached
      ? cached.get(key)
      : (this.prepared('SELECT value, version FROM records WHERE kind = ? AND key = ?').get(kind, key) as Row | undefined);
    return row ? { key, value: JSON.parse(row.value) as T, version: row.version } : undefined;
  }

  async list<T>(kind: string, prefix = ''): Promise<Stored<T>[]> {
    return this.sortedRows(kind, prefix).map(([key, r]) => ({ key, value: JSON.parse(r.value) as T, version: r.version }));
  }

  async listShared<T>(kind: string, prefix = ''): Promise<Stored<T>[]> {
    return this.sortedRows(kind, prefix).map(([key, r]) => {
      r.shared ??= deepFreeze(JSON.parse(r.value));
      return { key, value: r.shared as T, version: r.version };
    });
  }

  private sortedRows(kind: string, prefix: string): [string, Row][] {
    const out: [string, Row][] = [];
    for (const entry of this.loaded(kind)) if (entry[0].startsWith(prefix)) out.push(entry);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** The rows of a kind, read from the database the first time. */
  private loaded(kind: string): Map<string, Row> {
    let rows = this.rows.get(kind);
    if (!rows) {
      rows = new Map();
      for (const r of this.prepared('SELECT key, value, version FROM records WHERE kind = ?').all(kind) as unknown as (Row & { key: string })[]) {
        rows.set(r.key, { value: r.value, version: r.version });
      }
      this.rows.set(kind, rows);
    }
    return rows;
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
      const written: { kind: string; key: string; row: Row | undefined }[] = [];
      for (const op of ops) {
        if (op.ifVersion !== undefined) {
          const row = versionOf.get(op.kind, op.key) as { version: number } | undefined;
          if ((row?.version ?? 0) !== op.ifVersion) throw conflict(`${op.kind} ${op.key} was changed concurrently or already exists`);
        }
        if (op.op === 'put') {
          const text = JSON.stringify(op.value);
          upsert.run(op.kind, op.key, text, revision);
          written.push({ kind: op.kind, key: op.key, row: { value: text, version: revision } });
          changes.push({ revision, kind: op.kind, key: op.key, value: op.value });
        } else {
          remove.run(op.kind, op.key);
          written.push({ kind: op.kind, key: op.key, row: undefined });
          changes.push({ revision, kind: op.kind, key: op.key, value: undefined });
        }
      }
      this.prepared("UPDATE meta SET value = ? WHERE name = 'revision'").run(revision);
      this.db.exec('COMMIT');
      // Only what was committed reaches the cached rows.
      for (const w of written) {
        const rows = this.rows.get(w.kind);
        if (!rows) continue;
        if (w.row) rows.set(w.key, w.row);
        else rows.delete(w.key);
      }
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

interface Row {
  value: string;
  version: number;
  /** The parsed value handed out by listShared, made on first use. */
  shared?: unknown;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
