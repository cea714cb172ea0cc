import { createHash, type Hash } from 'node:crypto';

/** A streaming SHA-256: feed chunks with update(), read digest() once. */
export function createSha256(): Hash {
  return createHash('sha256');
}
