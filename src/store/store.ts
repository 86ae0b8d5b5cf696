// The state store: versioned key/value records grouped by kind, with
// conditional writes in transactions. The shape follows what etcd offers
// (revisions, compare-and-swap, watch from a revision) so that a distributed
// store can replace SQLite behind the same interface.

export interface Stored<T> {
  key: string;
  value: T;
  /** Store revision of the last write to this record; never 0 for a stored record. */
  version: number;
}

export type Operation =
  /** ifVersion 0: the record must not exist; n > 0: it must be at version n. */
  | { op: 'put'; kind: string; key: string; value: unknown; ifVersion?: number }
  | { op: 'delete'; kind: string; key: string; ifVersion?: number };

export interface StoreChange {
  revision: number;
  kind: string;
  key: string;
  /** undefined when the record was deleted. */
  value: unknown;
}

export interface Store {
  get<T>(kind: string, key: string): Promise<Stored<T> | undefined>;
  list<T>(kind: string, prefix?: string): Promise<Stored<T>[]>;
  /**
   * Like list, but each value is parsed once per version and shared by every
   * caller, deeply frozen: for paths that only read many records (docker ps).
   * Writing to a value throws; take list() to get copies to change.
   */
  listShared<T>(kind: string, prefix?: string): Promise<Stored<T>[]>;
  /**
   * Applies all operations atomically, or none. Throws a conflict error
   * (BerthError kind "conflict") naming the record whose condition failed.
   * Returns the new revision.
   */
  txn(ops: Operation[]): Promise<number>;
  put(kind: string, key: string, value: unknown, ifVersion?: number): Promise<number>;
  delete(kind: string, key: string, ifVersion?: number): Promise<number>;
  /** Calls fn for every change after `fromRevision`; returns a function that stops watching. */
  watch(fromRevision: number, fn: (change: StoreChange) => void): () => void;
  close(): Promise<void>;
}
