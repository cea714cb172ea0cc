#!/usr/bin/env node
// The sft command: a thin bin around run() (run.ts); a worker process of `sft serve` runs the server instead.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

if (isMain()) {
  // Inbox work is many small file-system calls per file (open, fsync, link, ...): more threads overlap them.
  process.env.UV_THREADPOOL_SIZE ??= '16';
  if (process.env.SFT_SERVE_WORKER === '1' && process.send !== undefined) {
    const { serveWorker } = await import('./serve-cluster.js');
    await serveWorker(new Reporter({ json: process.argv.includes('--json'), stdout: process.stdout, stderr: process.stderr }), openAccounts);
  } else {
    process.exitCode = await run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  }
}
