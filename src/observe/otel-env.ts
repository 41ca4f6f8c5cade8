// Whether the environment asks for traces at all, apart from otel.ts: a run's start checks this
// and loads the exporter (with node:http, node:https and node:zlib) only when it may be needed.

/** A variable's value, trimmed; undefined when unset or blank. */
export const nonEmpty = (v: string | undefined) => (v?.trim() ? v.trim() : undefined);

/**
 * False when no variable names an exporter or an endpoint: traces are off for certain. True does
 * not mean on (OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none): traceExporterFromEnv decides that.
 */
export function tracesMaybeConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    nonEmpty(env.OTEL_TRACES_EXPORTER) ??
      nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ??
      nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT),
  );
}
