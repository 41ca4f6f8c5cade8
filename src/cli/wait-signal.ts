/**
 * How a long-running command (`faultline proxy`, `faultline agent`) waits for
 * Ctrl-C or SIGTERM: the first signal starts a clean shutdown; a second one
 * while it runs exits at once (after `onSecond` says what that leaves).
 */
export function waitForSignal(onSecond?: (signal: NodeJS.Signals) => void): {
  promise: Promise<NodeJS.Signals>;
  dispose(): void;
} {
  let resolve!: (s: NodeJS.Signals) => void;
  const promise = new Promise<NodeJS.Signals>((r) => {
    resolve = r;
  });
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      onSecond?.(signal);
      process.exit(1);
    }
    received = true;
    resolve(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    promise,
    dispose() {
      // Keep the handler for a second signal until the process ends; drop it only if none came.
      if (!received) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    },
  };
}
