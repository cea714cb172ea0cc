// npm run flood [-- --seconds 40 --rate 300 --sources 100 --mode replay|fresh|both]
// Issue 7's admission measurement: a captured first handshake flight (a real ClientHello) replayed `rate` times a
// second for `seconds` from `sources` loopback addresses (127.0.1.1…), each connection closed right after sending,
// while a good client on 127.0.0.1 sends 16 MiB ten times with the real CLI. "fresh" is the harder variant: each
// flood connection reads its greeting, answers with a hello valid for it, and waits for the server hello, so the
// server does its full pre-authentication work. Then the server's CPU per unauthenticated hello, measured with the
// flood alone. Loopback only, bounded in time and count.
import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { clientHello, passwordCredentials, serverGreeting, serverRespond } from '../dist/protocol/handshake.js';
import { createServerSetup, opaqueReady, register } from '../dist/crypto/opaque.js';
import { Mode } from '../dist/protocol/messages.js';
import { FrameDecoder, FrameType, encodeFrame } from '../dist/protocol/frames.js';

const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const SECONDS = Number(arg('seconds', 40));
const RATE = Number(arg('rate', 300));
const SOURCES = Number(arg('sources', 100));
const MODES = arg('mode', 'both') === 'both' ? ['replay', 'fresh'] : [arg('mode')];
const sft = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const password = 'flood-Password-correct-horse-7';
const env = { ...process.env, SFT_PASSWORD: password };
const work = mkdtempSync(join(tmpdir(), 'sft-flood-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function startServer() {
  const child = spawn(process.execPath, [sft, 'serve', '--port', '0', '--dir', join(work, 'inbox'), '--json'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = createInterface({ input: child.stdout });
  const errors = {};
  const port = await new Promise((resolve) => lines.on('line', (line) => {
    const event = JSON.parse(line);
    if (event.event === 'listening') resolve(event.port);
    if (event.event === 'session-error') errors[event.code] = (errors[event.code] ?? 0) + 1;
  }));
  const pids = () => [child.pid, ...execFileSync('pgrep', ['-P', String(child.pid)]).toString().split('\n').filter(Boolean).map(Number)];
  const cpu = () => pids().reduce((n, pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return n + (Number(fields[11]) + Number(fields[12])) / 100;
  }, 0);
  return { port, cpu, errors, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

/** The greeting of a fresh connection, and the socket (paused after it). */
function greeting(port, localAddress) {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const decoder = new FrameDecoder(new Set(Object.values(FrameType)));
    socket.on('error', reject);
    socket.on('data', (data) => {
      const [frame] = decoder.push(data);
      if (frame !== undefined) resolve({ socket, frame });
    });
  });
}

/** One flood connection: send `frame` and close (replay), or answer the greeting and wait for the server hello (fresh). */
async function floodOne(port, localAddress, mode, hello) {
  if (mode === 'replay') {
    await new Promise((resolve) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress }, () => socket.end(hello.frame));
      socket.on('error', resolve);
      socket.on('close', resolve);
      socket.resume();
    });
    return;
  }
  const { socket, frame } = await greeting(port, localAddress);
  // The captured hello with this connection's nonce echoed: the server must do its full work to answer it.
  const body = Buffer.from(hello.body);
  frame.body.copy(body, 0, 6, 22);
  await new Promise((resolve) => {
    let answered = false;
    socket.removeAllListeners('data');
    socket.on('data', () => {
      if (answered) return;
      answered = true;
      socket.destroy();
      resolve();
    });
    socket.on('close', resolve);
    socket.write(encodeFrame(FrameType.ClientHello, body));
    setTimeout(() => (socket.destroy(), resolve()), 5000).unref();
  });
}

/** Runs the flood for `seconds`; returns the connections attempted. */
async function flood(port, mode, hello, seconds) {
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  const inflight = new Set();
  while (Date.now() < end) {
    const due = Math.floor(((seconds * 1000 - (end - Date.now())) / 1000) * RATE);
    while (sent < due) {
      const source = `127.0.1.${(sent % SOURCES) + 1}`;
      const p = floodOne(port, source, mode, hello).catch(() => undefined);
      inflight.add(p);
      p.finally(() => inflight.delete(p));
      sent++;
    }
    await sleep(5);
  }
  await Promise.all(inflight);
  return sent;
}

function send(port, file) {
  const started = Date.now();
  const child = spawn(process.execPath, [sft, 'send', file, '--to', `127.0.0.1:${port}`, '--json'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, seconds: (Date.now() - started) / 1000, stderr: stderr.trim().split('\n').at(-1) })));
}

async function tenSends(server, file) {
  const runs = [];
  for (let i = 0; i < 10; i++) {
    rmSync(join(work, 'inbox', 'good.bin'), { force: true });
    runs.push(await send(server.port, file));
  }
  return runs;
}

/**
 * The server's work for one valid hello, in-process (what a flood that passes admission costs per connection):
 * one ML-KEM-768 encapsulation and the PAKE's server step. CPU time of this process, averaged over `count` hellos.
 */
async function handshakeCost(count = 300) {
  const costs = {};
  await opaqueReady();
  const setup = createServerSetup();
  const record = register(setup, 'alice', password);
  const modes = {
    'shared password (CPace X25519 + ML-KEM)': { credentials: await passwordCredentials(password, 1000), client: { password } },
    'accounts (OPAQUE + ML-KEM)': { credentials: { mode: Mode.Accounts, setup, record: () => record }, client: { password, account: 'alice' } },
  };
  for (const [name, { credentials, client }] of Object.entries(modes)) {
    const hellos = [];
    for (let i = 0; i < count; i++) {
      const greeting = serverGreeting(credentials);
      hellos.push([greeting, (await clientHello(greeting, client, ['aes-256-gcm'])).helloBody]);
    }
    const before = process.cpuUsage();
    for (const [greeting, body] of hellos) serverRespond(credentials, greeting, body, ['aes-256-gcm']);
    const used = process.cpuUsage(before);
    costs[name] = (used.user + used.system) / 1000 / count;
  }
  return costs;
}

const file = join(work, 'good.bin');
writeFileSync(file, randomFillSync(Buffer.alloc(16 * 1024 * 1024)));
try {
  for (const mode of MODES) {
    const server = await startServer();
    // The "captured" first flight: a real client's hello for one connection's greeting.
    const { socket, frame } = await greeting(server.port, '127.0.0.1');
    const pending = await clientHello(frame.body, { password }, ['aes-256-gcm', 'chacha20-poly1305']);
    socket.destroy();
    const hello = { frame: encodeFrame(FrameType.ClientHello, pending.helloBody), body: pending.helloBody };
    const unloaded = await tenSends(server, file);
    // The flood runs its full SECONDS; the good client's ten sends start 2 s in and run inside it.
    const floodStarted = Date.now();
    const floodDone = flood(server.port, mode, hello, SECONDS);
    await sleep(2000);
    const loaded = await tenSends(server, file);
    const sendsEnded = (Date.now() - floodStarted) / 1000;
    const attempted = await floodDone;
    // CPU per hello: the flood alone for 10 s.
    const before = server.cpu();
    const alone = await flood(server.port, mode, hello, 10);
    const cpuPerHello = ((server.cpu() - before) / alone) * 1000;
    await server.stop();
    const failed = loaded.filter((r) => r.code !== 0);
    console.log(`\n## flood "${mode}": ${RATE}/s from ${SOURCES} addresses for ${SECONDS} s (${attempted} connections; the good client's sends ran from 2 s to ${sendsEnded.toFixed(1)} s${sendsEnded > SECONDS ? ', past the flood' : ''})\n`);
    console.log(`unloaded 16 MiB sends: median ${median(unloaded.map((r) => r.seconds)).toFixed(2)} s (${unloaded.map((r) => r.seconds.toFixed(2)).join(', ')})`);
    console.log(`under flood:           median ${median(loaded.map((r) => r.seconds)).toFixed(2)} s (${loaded.map((r) => r.seconds.toFixed(2)).join(', ')}); ${10 - failed.length}/10 succeeded${failed.length ? `; failures: ${failed.map((f) => f.stderr).join(' | ')}` : ''}`);
    const ratio = median(loaded.map((r) => r.seconds)) / median(unloaded.map((r) => r.seconds));
    console.log(`ratio loaded/unloaded: ${ratio.toFixed(2)} (goal <= 2): ${ratio <= 2 && failed.length === 0 ? 'met' : 'NOT met'}`);
    console.log(`server CPU per unauthenticated hello (flood alone, ${alone} connections in 10 s, all server processes): ${cpuPerHello.toFixed(2)} ms (goal <= 2 ms)`);
    console.log(`server session errors: ${JSON.stringify(server.errors)}`);
  }
  console.log('\n## server work per valid hello, in-process (goal <= 2 ms)\n');
  for (const [name, ms] of Object.entries(await handshakeCost())) console.log(`${name}: ${ms.toFixed(2)} ms CPU per hello`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
