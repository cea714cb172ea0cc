// npm run build && node bench/relay.js [--rooms 50] [--mib 8] [--gib 1] [--repeat 3]
// The relay in its own process (`sft relay`), measured from outside: its peak RSS (VmHWM) while many rooms move
// data at once, then the throughput of one room against a direct socket copy, in the same run (loopback only).
// `npm run bench -- --only relay` uses roomsLoad() from here beside real `sft send` / `sft receive` pairs.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { clearInterval, setInterval } from 'node:timers';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { joinRelay } from '../dist/relay/client.js';

const MiB = 1024 * 1024;
const sft = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function status(pid, field) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) / 1024;
}

async function startRelay(rooms) {
  const child = spawn(process.execPath, [sft, 'relay', '--port', '0', '--json', '--max-per-source', String(4 * rooms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  // The first line is the listening event; of the later ones, only rooms that did not end well are shown.
  const lines = createInterface({ input: child.stdout });
  const { port } = JSON.parse(await new Promise((resolve) => lines.once('line', resolve)));
  lines.on('line', (line) => {
    const event = JSON.parse(line);
    if (event.event === 'refused' || (event.event === 'room-closed' && event.reason !== 'done')) console.error('relay:', line);
  });
  return { child, port };
}

/** Two peers joined through the relay; half-open, so one side's end does not end the other's sending. */
async function pair(port) {
  let nameplate;
  const waiting = new Promise((resolve) => (nameplate = resolve));
  const first = joinRelay({ host: '127.0.0.1', port, allocate: true, timeoutMs: 30_000, allowHalfOpen: true, onWaiting: (n) => nameplate(n) });
  const second = await joinRelay({ host: '127.0.0.1', port, nameplate: await waiting, timeoutMs: 30_000, allowHalfOpen: true });
  return [(await first).socket, second.socket];
}

/** Resolves on 'drain'; rejects if the socket closes first. */
function drained(socket) {
  return new Promise((resolve, reject) => {
    const done = (error) => {
      socket.off('drain', done);
      socket.off('close', closed);
      if (error) reject(error);
      else resolve();
    };
    const closed = () => done(new Error('socket closed while sending'));
    socket.on('drain', done);
    socket.on('close', closed);
  });
}

/** Writes `bytes` from one reused buffer with backpressure, then ends. */
async function pump(socket, bytes) {
  const block = Buffer.alloc(MiB, 0x5a);
  for (let sent = 0; sent < bytes; sent += block.length) {
    if (!socket.write(block.subarray(0, Math.min(block.length, bytes - sent)))) await drained(socket);
  }
  socket.end();
}

function drain(socket) {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    socket.on('data', (d) => (bytes += d.length));
    socket.once('end', () => resolve(bytes));
    socket.once('error', reject);
  });
}

/** Moves `bytes` from a to b; resolves with seconds from the first write to the receiver's end. */
async function oneWay(a, b, bytes) {
  const started = performance.now();
  const [received] = await Promise.all([drain(b), pump(a, bytes)]);
  if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  b.end();
  return (performance.now() - started) / 1000;
}

async function directPair() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const a = connect({ host: '127.0.0.1', port: server.address().port });
  await new Promise((resolve) => a.once('connect', resolve));
  const b = await accepted;
  server.close();
  return [a, b];
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/**
 * `rooms` rooms through one fresh `sft relay` at once, each moving `mibPerRoom` MiB both ways: the seconds it took
 * and the relay's peak RSS (VmHWM, and the highest VmRSS sampled every 20 ms). Throws if any room came up short.
 */
export async function roomsLoad(rooms, mibPerRoom) {
  const relay = await startRelay(rooms);
  const pid = relay.child.pid;
  try {
    const startRss = status(pid, 'VmRSS');
    const pairs = await Promise.all(Array.from({ length: rooms }, () => pair(relay.port)));
    let sampled = 0;
    const sampler = setInterval(() => (sampled = Math.max(sampled, status(pid, 'VmRSS'))), 20);
    const loadStart = performance.now();
    try {
      await Promise.all(pairs.map(async ([a, b]) => {
        const [up, down] = await Promise.all([drain(b), drain(a), pump(a, mibPerRoom * MiB), pump(b, mibPerRoom * MiB)]);
        if (up !== mibPerRoom * MiB || down !== mibPerRoom * MiB) throw new Error('short transfer');
      }));
    } finally {
      clearInterval(sampler);
    }
    return { relay, startRss, seconds: (performance.now() - loadStart) / 1000, peakMiB: status(pid, 'VmHWM'), sampledMiB: sampled };
  } catch (error) {
    relay.child.kill('SIGTERM');
    throw error;
  }
}

async function main() {
  const args = process.argv.slice(2);
  const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
  const ROOMS = option('--rooms', 50);
  const MIB_PER_ROOM = option('--mib', 8);
  const GIB = option('--gib', 1);
  const REPEAT = option('--repeat', 3);

  // 1. Many rooms at once, each moving MIB_PER_ROOM both ways.
  const load = await roomsLoad(ROOMS, MIB_PER_ROOM);
  const { relay } = load;
  const pid = relay.child.pid;
  console.log(`relay pid ${pid}, RSS at start ${load.startRss.toFixed(1)} MiB`);
  console.log(`${ROOMS} rooms x ${MIB_PER_ROOM} MiB each way: ${load.seconds.toFixed(2)} s, ${((2 * ROOMS * MIB_PER_ROOM) / load.seconds).toFixed(0)} MiB/s in all; relay peak RSS ${load.peakMiB.toFixed(1)} MiB (highest sample ${load.sampledMiB.toFixed(1)} MiB)`);

  // 2. One room, GIB one way, against a direct socket copy, alternating.
  const bytes = GIB * 1024 * MiB;
  const viaRelay = [];
  const direct = [];
  for (let i = 0; i < REPEAT; i++) {
    const [a, b] = await pair(relay.port);
    viaRelay.push(await oneWay(a, b, bytes));
    const [c, d] = await directPair();
    direct.push(await oneWay(c, d, bytes));
  }
  const r = median(viaRelay);
  const s = median(direct);
  console.log(`${GIB} GiB one way, median of ${REPEAT}: relay ${r.toFixed(2)} s (${(bytes / MiB / r).toFixed(0)} MiB/s), direct socket ${s.toFixed(2)} s (${(bytes / MiB / s).toFixed(0)} MiB/s), ratio ${(r / s).toFixed(2)}`);
  console.log(`relay peak RSS over the whole run ${status(pid, 'VmHWM').toFixed(1)} MiB`);
  relay.child.kill('SIGTERM');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
