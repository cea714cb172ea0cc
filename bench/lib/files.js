// Test files and the checks that what a tool stored is what was sent.
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

export function sizeLabel(size) {
  const [unit, n] = size >= GiB ? ['GiB', size / GiB] : size >= MiB ? ['MiB', size / MiB] : size >= 1024 ? ['KiB', size / 1024] : ['B', size];
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${unit}`;
}

/** A file of `size` random bytes. */
export function makeFile(path, size) {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4 * MiB);
  for (let done = 0; done < size; done += block.length) {
    randomFillSync(block);
    writeSync(fd, block, 0, Math.min(block.length, size - done));
  }
  closeSync(fd);
}

/**
 * `count` files of random bytes in `dirs` directories under `root`, each `size(i)` bytes; returns the total.
 * The sizes come from a fixed sequence, so every run of the bench makes the same tree shape.
 */
export function makeTree(root, count, dirs, size) {
  let bytes = 0;
  const block = Buffer.alloc(64 * 1024);
  for (let d = 0; d < dirs; d++) mkdirSync(join(root, `d${String(d).padStart(4, '0')}`), { recursive: true });
  for (let i = 0; i < count; i++) {
    const length = size(i);
    randomFillSync(block, 0, length);
    writeFileSync(join(root, `d${String(i % dirs).padStart(4, '0')}`, `f${String(i).padStart(6, '0')}.bin`), block.subarray(0, length));
    bytes += length;
  }
  return bytes;
}

/** Removes what is inside `dir` and keeps `dir`, creating it if needed. */
export function empty(dir) {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

/** Writes back every dirty page, so one run's output is not flushed during the next one's time. */
export function syncDisk() {
  execFileSync('sync');
}

export async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk);
  return hash.digest('hex');
}

/** Checks that `path` exists with `size` bytes; throws a sentence saying what is wrong. */
export function expectSize(path, size, who) {
  const actual = existsSync(path) ? statSync(path).size : undefined;
  if (actual !== size) throw new Error(`${who}: ${path} ${actual === undefined ? 'missing' : `has ${actual} bytes`}, expected ${size}`);
}

/** Files (relative path, size) under `root`, skipping sft's .sft-partial directories; sorted. */
export function listTree(root) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === '.sft-partial') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push({ path: relative(root, path), size: statSync(path).size });
    }
  };
  walk(root);
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Checks that `copy` holds as many files and bytes as `source`; throws a sentence if not. */
export function expectTree(copy, source, who) {
  const want = listTree(source);
  const got = existsSync(copy) ? listTree(copy) : [];
  const sum = (files) => files.reduce((n, f) => n + f.size, 0);
  if (got.length !== want.length || sum(got) !== sum(want)) {
    throw new Error(`${who}: ${copy} holds ${got.length} files, ${sum(got)} bytes; expected ${want.length} files, ${sum(want)} bytes`);
  }
}

/** A SHA-256 over every file's relative path and content under `root`. */
export function treeDigest(root) {
  const hash = createHash('sha256');
  for (const { path } of listTree(root)) hash.update(`${path}\0`).update(readFileSync(join(root, path)));
  return hash.digest('hex');
}
