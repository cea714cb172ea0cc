import type { CliIo } from '../../src/cli/run.js';

export interface FakeIo extends CliIo {
  out: () => string;
  err: () => string;
}

/** In-memory stdin/stdout/stderr (not TTYs) and an environment, for running the CLI in-process. */
export function fakeIo(env: Record<string, string> = {}): FakeIo {
  let out = '';
  let err = '';
  const stream = (append: (s: string) => void) => ({ isTTY: false, write: (s: string) => (append(s), true) }) as unknown as NodeJS.WriteStream;
  return {
    stdin: { isTTY: false } as unknown as NodeJS.ReadStream,
    stdout: stream((s) => (out += s)),
    stderr: stream((s) => (err += s)),
    env: { ...env },
    out: () => out,
    err: () => err,
  };
}
