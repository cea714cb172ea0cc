import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** A streaming SHA-256: feed chunks with update(), read digest() once. */
export function createSha256(): Hash {
  return createHash('sha256');
}

/** SHA-256 of a file, read in 64 KiB pieces: memory stays flat whatever the size. */
export async function sha256File(path: string): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest();
}
