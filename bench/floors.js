// npm run floors [-- dir]: what issue 8's goals leave to work with on this machine, with Node's own crypto and
// sft's promises (docs/PERFORMANCE.md, "Floors"). Three measurements, each in words on the console:
//  - CPU per GiB of the cryptography a side cannot skip, with node:crypto: SHA-256 of the content, and AES-256-GCM
//    sealing or opening 256 KiB chunks with a new cipher per chunk (STREAM), on buffers already in memory;
//  - the receiving side's file-system steps for 10,000 files of 4 KiB, 100 to a directory, written directory by
//    directory as a sender walks a tree (no network, no cryptography): rsync's (create a temporary beside the
//    target, write, close, set times, rename), sft's without fsync, and sft's with its durability (create in the
//    partial folder, write, set times, fsync, close, link into place, unlink, then an fsync of the directory shared
//    by sft's own DirectorySync; 32 files in flight, 16 thread-pool threads as `sft serve` gives its forked
//    workers). A variant with fdatasync for the files (directories still fsynced). `sync` runs before each.
//  - the peak RSS of a Node process that does nothing, and of one that runs scrypt at age's work factor.
// Files go under [dir] (default: the system's temporary directory). On ext4 without a journal, run it where
// nothing was deleted in the last minutes: creates skip recently freed inodes (docs/PERFORMANCE.md).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, fsync, fdatasync, futimesSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DirectorySync } from '../dist/transfer/store.js';
import { syncDisk } from './lib/files.js';

// libuv sizes its thread pool when it first uses it, which Node's module loader does before this line runs: the
// size must be in the environment at start, so the script runs itself again with it.
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  const { status } = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: '16' } });
  process.exit(status ?? 1);
}

const GiB_IN_MiB = 1024;
const CHUNK = 256 * 1024;

/** `used` (from process.cpuUsage) in words. */
const cpuText = (used) => `${(used.user / 1e6).toFixed(2)} s user + ${(used.system / 1e6).toFixed(2)} s sys`;

function cpu(work) {
  const start = process.cpuUsage();
  work();
  return cpuText(process.cpuUsage(start));
}

function cryptoFloor() {
  const block = randomBytes(1024 * 1024);
  const key = randomBytes(32);
  const nonce = (i) => Buffer.concat([Buffer.alloc(8), Buffer.from([i >>> 24, i >>> 16, i >>> 8, i])]);
  console.log(`SHA-256 of 1 GiB (1 MiB updates):          ${cpu(() => {
    const hash = createHash('sha256');
    for (let i = 0; i < GiB_IN_MiB; i++) hash.update(block);
    hash.digest();
  })}`);
  const sealed = [];
  console.log(`AES-256-GCM sealing 1 GiB (256 KiB chunks): ${cpu(() => {
    for (let i = 0; i < GiB_IN_MiB * 4; i++) {
      const cipher = createCipheriv('aes-256-gcm', key, nonce(i));
      const out = cipher.update(block.subarray((i % 4) * CHUNK, (i % 4 + 1) * CHUNK));
      cipher.final();
      if (i < 4) sealed.push({ out, tag: cipher.getAuthTag() });
    }
  })}`);
  console.log(`AES-256-GCM opening 1 GiB (256 KiB chunks): ${cpu(() => {
    for (let i = 0; i < GiB_IN_MiB * 4; i++) {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce(i % 4));
      decipher.setAuthTag(sealed[i % 4].tag);
      decipher.update(sealed[i % 4].out);
      decipher.final();
    }
  })}`);
}

const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);

/** The receiving side's steps for 10,000 × 4 KiB in 100 directories under a new `dest`; returns wall and CPU. */
async function fileSteps(mode, dest) {
  const data = Buffer.alloc(4096, 7);
  const partial = join(dest, '.sft-partial');
  mkdirSync(partial, { recursive: true });
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const inFlight = new Set();
  const dirSync = new DirectorySync();
  for (let i = 0; i < 10_000; i++) {
    const dir = join(dest, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(dir);
    const name = join(dir, `f${i}`);
    if (mode === 'rsync') {
      const temp = join(dir, `.f${i}.tmp`);
      const fd = openSync(temp, 'wx', 0o600);
      writeSync(fd, data);
      closeSync(fd);
      utimesSync(temp, new Date(), new Date());
      renameSync(temp, name);
      continue;
    }
    const temp = join(partial, `t${i}`);
    const fd = openSync(temp, 'wx', 0o600);
    writeSync(fd, data, 0, data.length, 0);
    futimesSync(fd, new Date(), new Date());
    const durable = mode !== 'sft, no fsync';
    const job = (async () => {
      try {
        if (durable) await (mode === 'sft, fdatasync' ? fdatasyncAsync(fd) : fsyncAsync(fd));
      } finally {
        closeSync(fd);
      }
      lstatSync(dir);
      linkSync(temp, name);
      unlinkSync(temp);
      if (durable) await dirSync.sync(dir);
    })();
    inFlight.add(job);
    job.then(() => inFlight.delete(job), () => inFlight.delete(job));
    if (inFlight.size >= 32) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return `${seconds.toFixed(2)} s (CPU ${cpuText(process.cpuUsage(cpuStart))})`;
}

function peakRss(script) {
  const out = execFileSync(process.execPath, ['-e', `${script}; console.log(process.resourceUsage().maxRSS)`], { encoding: 'utf8' });
  return `${(Number(out.trim()) / 1024).toFixed(1)} MiB`;
}

cryptoFloor();
const base = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'sft-floors-'));
try {
  // Interleaved, each into a new directory, nothing deleted until the end (deleted inodes slow ext4's creates).
  let n = 0;
  for (const round of [1, 2]) {
    for (const mode of ['rsync', 'sft, no fsync', 'sft', 'sft, fdatasync']) {
      syncDisk();
      console.log(`file-system steps, 10,000 × 4 KiB, ${mode.padEnd(14)} (round ${round}): ${await fileSteps(mode, join(base, String(n++)))}`);
    }
  }
} finally {
  console.log(`deleting ${base}: creating files near it stays slower for the next minutes`);
  rmSync(base, { recursive: true, force: true });
}
console.log(`peak RSS of node doing nothing: ${peakRss('0')}`);
console.log(`peak RSS of node running scrypt (N = 2^18, r = 8, age's work factor): ${peakRss("require('node:crypto').scryptSync('p', Buffer.alloc(16), 32, { N: 2 ** 18, r: 8, p: 1, maxmem: 300 * 1024 * 1024 })")}`);
