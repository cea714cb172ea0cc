/**
 * Resolves with the name of the first SIGINT or SIGTERM. Call it before announcing that a server listens: a signal
 * that arrives before its handler is installed kills the process (a script that waits for "listening" and stops the
 * server at once hit this in 40% of tries).
 */
export function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = stop('SIGINT');
    const onTerm = stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}
