#!/usr/bin/env node
// The sft command: a thin bin around run() (run.ts); a worker process of `sft serve` runs the server instead.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Reporter } from './reporter.js';
import { run } from './run.js';
import { openAccounts } from './commands/serve.js';

export { run, createProgram } from './run.js';
export type { CliIo } from './run.js';

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

/**
 * Output is a report of the work, not the work: when whoever reads it goes away (`sft ls | head -1`, `sft serve
 * --json | head -1`), what follows is dropped and the command carries on. Data written to standard output (decrypt
 * -o -) still fails its command, through the pipeline's own error listener.
 */
function ignoreClosedReaders(...streams: NodeJS.WriteStream[]): void {
  for (const stream of streams) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
}

/**
 * Stops V8's young generation from growing past 4 MiB (32 MiB by default on Node 20 and 22, 128 on Node 24), which a
 * many-file send fills and keeps in its peak RSS: 118 → 93 MiB at 10,000 files, for 3–5% more CPU
 * (docs/PERFORMANCE.md). The cap is read only at start, the growth factor at each growth. Process-wide: every
 * command but encrypt and decrypt, the relay, an in-process server and their worker threads; serve's forked workers
 * start with their own cap. A user's own semi-space flag wins.
 */
function keepYoungGenerationSmall(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((flag) => flag.includes('semi-space'));
  if (!given) setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * The at-rest commands move one stream, not many files, and keep V8's default: with the small young generation a
 * Fernet decrypt's peak RSS jumped above 100 MiB in some runs (docs/PERFORMANCE.md, "Memory").
 */
const ONE_STREAM_COMMANDS = new Set(['encrypt', 'decrypt']);

if (isMain()) {
  ignoreClosedReaders(process.stdout, process.stderr);
  // Inbox work is many small file-system calls per file (open, fsync, link, ...): more threads overlap them. libuv
  // sizes its thread pool at first use, which the ES module loader makes before this line runs, so this reaches the
  // forked `serve` workers (they inherit the environment), not this process: it keeps libuv's default of 4, which
  // costs nothing measurable (a 10,000-file `sft get`, three alternating runs: 6.15/6.48/7.36 s with 4 threads,
  // 6.64/6.52/6.76 s with 16 set before start), so no re-exec or CommonJS shim is worth it.
  process.env.UV_THREADPOOL_SIZE ??= '16';
  if (process.env.SFT_SERVE_WORKER === '1' && process.send !== undefined) {
    const { serveWorker } = await import('./serve-cluster.js');
    await serveWorker(new Reporter({ json: process.argv.includes('--json'), stdout: process.stdout, stderr: process.stderr }), openAccounts);
  } else {
    if (!ONE_STREAM_COMMANDS.has(process.argv[2] ?? '')) keepYoungGenerationSmall();
    process.exitCode = await run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  }
}
