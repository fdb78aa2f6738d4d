/** A map that forgets its least recently set entries beyond a capacity: every cache we keep is bounded. */
export class BoundedMap<V> {
  readonly #entries = new Map<string, V>();
  constructor(readonly capacity: number) {}

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  delete(key: string): boolean {
    return this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
