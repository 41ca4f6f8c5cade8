// Types of scripts/catalog-render.mjs, for the TypeScript tests that import it.
export interface CatalogArgument {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

export interface CatalogActivity {
  type: 'action' | 'probe';
  module: string;
  func: string;
  doc: string;
  arguments: CatalogArgument[];
}

export interface ExampleActivity {
  type: 'action' | 'probe';
  name: string;
  provider: {
    type: 'faultline' | 'python';
    module: string;
    func: string;
    arguments?: Record<string, unknown>;
  };
}

export const REGENERATE: string;
export interface ModuleDoc {
  title: string;
  doc?: string;
  about: string;
}
/** A fault group as src/faults/groups.ts lists it (only these fields are read). */
export interface CatalogFaultGroup {
  readonly group: string | undefined;
  readonly catalog?: Readonly<ModuleDoc>;
}
export const MODULES: Record<string, ModuleDoc & { before?: string }>;
export function moduleDocs(groups?: readonly CatalogFaultGroup[]): Record<string, Readonly<ModuleDoc>>;
export function moduleOrder(groups?: readonly CatalogFaultGroup[]): string[];
export const EXAMPLE_DURATION: number;
export function providerType(module: string): 'faultline' | 'python';
export function injectName(activity: CatalogActivity, exposed: readonly string[]): string | undefined;
export function exampleArguments(activity: CatalogActivity): Record<string, unknown>;
export function exampleActivity(activity: CatalogActivity): ExampleActivity;
export function injectCommand(activity: CatalogActivity, exposed: readonly string[]): string | undefined;
export function anchorOf(module: string, func?: string): string;
export function renderCatalog(
  activities: readonly CatalogActivity[],
  options?: { exposed?: Iterable<string>; groups?: readonly CatalogFaultGroup[] },
): string;
export function catalogSections(markdown: string): Map<string, string>;
export function diffSections(expected: string, actual: string): string[];
