import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A streaming SHA-256: feed chunks with update(), read digest() once. */
export function createSha256(): Hash {
  return createHash('sha256');
}

/** SHA-256 of a file's first `length` bytes, as a Hash that can go on being updated. */
export async function hashFilePrefix(path: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length > 0) for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash;
}
