// What the builder learned about images, kept for later builds. An image id
// names fixed content, so whether a path in it is a directory, or the layer
// that a COPY --from of it makes, never changes: a warm rebuild can answer
// both without mounting the image again.

/** A map that forgets its least recently used entries beyond max. */
export class BoundedMemo<T> {
  private readonly entries = new Map<string, T>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get(key: string): T | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

export class ImageFacts {
  /** (image id, path) -> is that path a directory in the image. */
  readonly isDir = new BoundedMemo<boolean>(4096);
  /** (source image id, sources, copy options) -> content hash of the layer the COPY --from makes. */
  readonly copyHash = new BoundedMemo<string>(4096);
}
