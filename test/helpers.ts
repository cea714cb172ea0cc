import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const vectorsDir = new URL('./vectors/', import.meta.url).pathname;

export function readVector<T>(relativePath: string): T {
  return JSON.parse(readFileSync(join(vectorsDir, relativePath), 'utf8')) as T;
}

export function hex(text: string): Buffer {
  return Buffer.from(text, 'hex');
}

export function tempDir(prefix = 'sft-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes (xorshift32) for reproducible test inputs. */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Splits `data` at random points (seeded) into pieces. */
export function randomSplit(data: Buffer, seed: number): Buffer[] {
  const pieces: Buffer[] = [];
  let x = seed >>> 0 || 1;
  let offset = 0;
  while (offset < data.length) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const size = 1 + (x % 70_000);
    pieces.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

export const SIZES = [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 2 * 64 * 1024 + 1];
