// npm run demo: starts `sft serve` on a free loopback port, sends a generated file with `sft send`,
// shows the receipt, and checks the stored file against the original.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const sft = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sft-demo-'));
const env = { ...process.env, SFT_PASSWORD: `demo-${randomBytes(12).toString('base64url')}` };
const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Runs sft with --json and yields its events. */
function sftJson(args) {
  const child = spawn(process.execPath, [sft, ...args, '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const events = createInterface({ input: child.stdout });
  return { child, events: events[Symbol.asyncIterator]() };
}

let server;
try {
  const input = join(dir, 'quarterly-report.bin');
  writeFileSync(input, randomBytes(32 * 1024 * 1024));
  console.log(`generated ${input} (32 MiB), sha-256 ${sha(input)}`);

  server = sftJson(['serve', '--port', '0', '--dir', join(dir, 'inbox')]);
  const listening = JSON.parse((await server.events.next()).value);
  console.log(`server listening on ${listening.host}:${listening.port}, inbox ${listening.dir}`);

  const client = sftJson(['send', input, '--to', `${listening.host}:${listening.port}`]);
  const exit = new Promise((resolve) => client.child.on('exit', resolve));
  for await (const line of { [Symbol.asyncIterator]: () => client.events }) {
    const event = JSON.parse(line);
    if (event.event === 'delivered') console.log(`receipt: ${event.path} stored as ${event.storedPath}, ${event.size} bytes, sha-256 ${event.sha256}`);
    if (event.event === 'done') console.log(`sent ${event.files} file in ${event.seconds.toFixed(2)} s with ${event.suite}`);
  }
  const code = await exit;
  if (code !== 0) throw new Error(`sft send exited with ${code}`);

  const stored = join(listening.dir, 'quarterly-report.bin');
  const same = sha(stored) === sha(input);
  console.log(`verification: stored file sha-256 ${sha(stored)} ${same ? 'matches the original' : 'DIFFERS'}`);
  if (!same) process.exitCode = 1;
} finally {
  server?.child.kill('SIGTERM');
  if (server) await new Promise((resolve) => server.child.on('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
}
