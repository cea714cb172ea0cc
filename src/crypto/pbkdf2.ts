import { pbkdf2 as pbkdf2Callback } from 'node:crypto';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';
import { toBytes } from './bytes.js';

const pbkdf2Async = promisify(pbkdf2Callback);

/** OWASP Password Storage Cheat Sheet (2023) figure for PBKDF2-HMAC-SHA256. */
export const DEFAULT_ITERATIONS = 600_000;
/** Hard ceiling, far above any sane setting, so a number from a file or peer cannot pin a core for hours. */
export const MAX_ITERATIONS = 100_000_000;

/**
 * PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) on libuv's thread pool: never blocks the event loop.
 * @throws UsageError when iterations is not an integer in [1, MAX_ITERATIONS] or keyLength is out of range.
 */
export async function pbkdf2Sha256(
  password: string | Uint8Array,
  salt: Uint8Array,
  iterations: number = DEFAULT_ITERATIONS,
  keyLength = 32,
): Promise<Buffer> {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new UsageError(`"iterations" expected an integer in [1, ${MAX_ITERATIONS}], got ${iterations}`);
  }
  if (!Number.isSafeInteger(keyLength) || keyLength < 1 || keyLength > 1024) {
    throw new UsageError(`"keyLength" expected an integer in [1, 1024], got ${keyLength}`);
  }
  return pbkdf2Async(toBytes(password), salt, iterations, keyLength, 'sha256');
}
