/** A named registry: one registration line per variant (provider, tolerance, fault, activity). */
export class Registry<T> {
  readonly #items = new Map<string, T>();
  constructor(readonly what: string) {}
  register(name: string, item: T): void {
    if (this.#items.has(name)) throw new Error(`${this.what} '${name}' is already registered`);
    this.#items.set(name, item);
  }
  get(name: string): T | undefined {
    return this.#items.get(name);
  }
  has(name: string): boolean {
    return this.#items.has(name);
  }
  names(): string[] {
    return [...this.#items.keys()];
  }
  entries(): [string, T][] {
    return [...this.#items.entries()];
  }
}
