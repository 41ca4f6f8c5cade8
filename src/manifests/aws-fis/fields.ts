/**
 * AWS FIS templates come in two spellings of the same keys: camelCase as the
 * API, the CLI's --cli-input-json and boto3 write them (`actionId`), and
 * PascalCase as CloudFormation's AWS::FIS::ExperimentTemplate writes them
 * (`ActionId`). Fields reads either, keeps the path as the file spells it,
 * and refuses what nobody read.
 */
import { join, type Notes } from '../notes.js';

export class Fields {
  readonly #read = new Set<string>();
  constructor(
    readonly obj: Record<string, unknown>,
    readonly path: string,
  ) {}

  /** The key as this object spells `name` (camelCase or PascalCase), if present. */
  key(name: string): string | undefined {
    const pascal = name.charAt(0).toUpperCase() + name.slice(1);
    if (Object.hasOwn(this.obj, name)) return name;
    if (Object.hasOwn(this.obj, pascal)) return pascal;
    return undefined;
  }

  has(name: string): boolean {
    return this.key(name) !== undefined;
  }

  /** The value and its path (as the file spells the key); the field counts as read. */
  get(name: string): { value: unknown; path: string } {
    const k = this.key(name);
    if (k === undefined) return { value: undefined, path: join(this.path, name) };
    this.#read.add(k);
    return { value: this.obj[k], path: join(this.path, k) };
  }

  /** Every field not read is refused: a field nobody read might change what happens. */
  rest(notes: Notes, what: string): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.#read.has(k)) notes.refused(join(this.path, k), `unknown field: ${what} does not have it`);
    }
  }
}
