import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, SftError, UsageError } from '../errors.js';
import { Fernet, toBase64Url } from '../crypto/fernet.js';
import { DEFAULT_ITERATIONS, pbkdf2Sha256 } from '../crypto/pbkdf2.js';
import { StreamOpener, StreamSealer } from '../crypto/stream.js';
import {
  AGE_INTRO, DEFAULT_WORK_FACTOR, MAX_HEADER_BYTES, MAX_WORK_FACTOR, PAYLOAD_NONCE_SIZE, encodeScryptHeader, newFileKey,
  parseAgeHeaderAndNonce, payloadKey, scryptHeaderLength, unwrapScrypt,
} from './age-header.js';
import { FERNET_HEADER_SIZE, FERNET_MAGIC, FernetFileReader, FernetFileWriter, encodeFernetFileHeader, parseFernetFileHeader } from './fernet-file.js';
import { atomicWrite } from '../util/atomic-file.js';
import { garbageBudget } from '../util/memory.js';

/** Large reads: each one is a thread-pool round trip, so 64 KiB reads leave the CPU idle half the time. */
const READ_SIZE = 1024 * 1024;

export type FileFormat = 'age' | 'fernet';
export const FILE_FORMATS: readonly FileFormat[] = ['age', 'fernet'];

export interface ProgressOptions {
  /** Called as input is read: bytes read so far and the input's size. */
  onProgress?: (done: number, total: number) => void;
}

export interface EncryptFileOptions extends ProgressOptions {
  password: string | Uint8Array;
  /** 'age' (default): a standard age file with a scrypt recipient. 'fernet': the Fernet container. */
  format?: FileFormat;
  /** PBKDF2 iterations for the fernet format (default 600,000). */
  iterations?: number;
  /** scrypt work factor, log2 N, for the age format (default 18, as age). */
  workFactor?: number;
  /** Replace the output if it exists. */
  overwrite?: boolean;
}

export interface DecryptFileOptions extends ProgressOptions {
  password: string | Uint8Array;
  overwrite?: boolean;
  /** Highest scrypt work factor accepted (default 22). */
  maxWorkFactor?: number;
}

export interface FileResult {
  format: FileFormat;
  /** Plaintext size in bytes. */
  size: number;
  /** SHA-256 of the plaintext, hex (the fernet format carries and checks it). */
  sha256?: string;
}

function readInput(path: string, total: number, options: ProgressOptions, start = 0, highWaterMark = READ_SIZE) {
  const stream = createReadStream(path, { start, highWaterMark });
  const collect = garbageBudget();
  stream.on('data', (chunk) => collect(chunk.length));
  if (options.onProgress !== undefined) {
    const report = options.onProgress;
    let done = start;
    stream.on('data', (chunk) => report((done += chunk.length), total));
  }
  return stream;
}

/**
 * Password-based file encryption, in the original design's terms: a Fernet key from PBKDF2-HMAC-SHA256 and a fresh
 * salt, Fernet tokens, a SHA-256 check; and, by default, the standard age format. All file methods stream.
 */
export class SecureFileTransfer {
  /**
   * The Fernet key for `password` and `salt`, as Python computes it:
   * `base64.urlsafe_b64encode(PBKDF2HMAC(SHA256(), 32, salt, iterations).derive(password))`.
   */
  static async deriveKey(password: string | Uint8Array, salt: Uint8Array, iterations: number = DEFAULT_ITERATIONS): Promise<string> {
    return toBase64Url(await pbkdf2Sha256(password, salt, iterations, 32));
  }

  /** Encrypts `data` to a Fernet token string. */
  static encrypt(data: string | Uint8Array, key: string): string {
    return new Fernet(key).encrypt(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /**
   * Decrypts a Fernet token. @throws IntegrityError (TAMPERED, MALFORMED, EXPIRED) when the token does not verify,
   * is older than `ttl` seconds, or is stamped more than 60 s in the future.
   */
  static decrypt(token: string, key: string, ttl?: number): Buffer {
    return new Fernet(key).decrypt(token, ttl === undefined ? {} : { ttl });
  }

  /** Encrypts the file at `input` to `output` (written atomically). */
  static async encryptFile(input: string, output: string, options: EncryptFileOptions): Promise<FileResult> {
    const format = options.format ?? 'age';
    if (!FILE_FORMATS.includes(format)) throw new UsageError(`unknown format "${String(format)}" (age or fernet)`);
    const { size } = await stat(input);
    const atomic = options.overwrite === undefined ? {} : { overwrite: options.overwrite };
    const encrypt = (out: Writable, prefix: Buffer, sealer: { push(chunk: Buffer): Buffer[]; end(): Buffer[] }) =>
      pipeline(
        readInput(input, size, options),
        async function* (source: AsyncIterable<Buffer>) {
          yield prefix;
          for await (const chunk of source) yield* sealer.push(chunk);
          yield* sealer.end();
        },
        out,
      );
    if (format === 'fernet') {
      const iterations = options.iterations ?? DEFAULT_ITERATIONS;
      const salt = randomBytes(16);
      const fernet = new Fernet(await pbkdf2Sha256(options.password, salt, iterations, 32));
      await atomicWrite(output, (out) => encrypt(out, encodeFernetFileHeader(iterations, salt), new FernetFileWriter(fernet)), atomic);
      return { format, size };
    }
    // The payload key comes from the random file key, not from scrypt: the payload is encrypted while scrypt runs
    // on the thread pool, behind a placeholder of the header's (fixed) length that is overwritten at the end.
    const workFactor = options.workFactor ?? DEFAULT_WORK_FACTOR;
    const fileKey = newFileKey();
    const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
    const header = encodeScryptHeader(fileKey, options.password, workFactor);
    header.catch(() => undefined);
    const headerLength = scryptHeaderLength(workFactor);
    await atomicWrite(
      output,
      async (out, tempPath) => {
        const placeholder = Buffer.concat([Buffer.alloc(headerLength), nonce]);
        await encrypt(out, placeholder, new StreamSealer('chacha20-poly1305', payloadKey(fileKey, nonce)));
        const bytes = await header;
        if (bytes.length !== headerLength) throw new SftError('INTERNAL', 'age header length mismatch');
        const handle = await open(tempPath, 'r+');
        await handle.write(bytes, 0, bytes.length, 0).finally(() => handle.close());
      },
      atomic,
    );
    return { format, size };
  }

  /** Reads the first bytes of `path` and names its format. @throws IntegrityError MALFORMED for anything else. */
  static async detectFormat(path: string): Promise<FileFormat> {
    return formatOf(await readPrefix(path, AGE_INTRO.length));
  }

  /**
   * Decrypts `input` (either format, detected) to `output`. The plaintext goes to a temporary file that is renamed
   * into place only after every check passed; on any failure no output file exists.
   * @throws AuthError (wrong password), IntegrityError (tampered, truncated, malformed), SftError IO.
   */
  static async decryptFile(input: string, output: string, options: DecryptFileOptions): Promise<FileResult> {
    const { size: total } = await stat(input);
    const prefix = await readPrefix(input, MAX_HEADER_BYTES + PAYLOAD_NONCE_SIZE);
    const format = formatOf(prefix);
    const atomic = options.overwrite === undefined ? {} : { overwrite: options.overwrite };
    let opener: Opener;
    let start: number;
    if (format === 'age') {
      const { header, nonce } = parseAgeHeaderAndNonce(prefix);
      const fileKey = await unwrapScrypt(header, options.password, options.maxWorkFactor ?? MAX_WORK_FACTOR);
      opener = new StreamOpener('chacha20-poly1305', payloadKey(fileKey, nonce));
      start = header.length + PAYLOAD_NONCE_SIZE;
    } else {
      const { iterations, salt } = parseFernetFileHeader(prefix);
      opener = new FernetFileReader(new Fernet(await pbkdf2Sha256(options.password, salt, iterations, 32)));
      start = FERNET_HEADER_SIZE;
    }
    let size = 0;
    await atomicWrite(output, (out) => pipeline(readInput(input, total, options, start), opened(opener, (n) => (size += n)), out), atomic);
    return { format, size, ...(opener instanceof FernetFileReader ? { sha256: opener.sha256 } : {}) };
  }
}

/** StreamOpener and FernetFileReader: fed ciphertext, they release authenticated plaintext through a callback. */
interface Opener {
  push(data: Buffer, release: (plaintext: Buffer) => void): void;
  end(): Buffer | void;
}

/** A pipeline stage: ciphertext in, authenticated plaintext out, in order; errors on any failed check. */
function opened(opener: Opener, count: (bytes: number) => void) {
  return async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const ready: Buffer[] = [];
    const release = (plaintext: Buffer) => ready.push(plaintext);
    for await (const chunk of source) {
      opener.push(chunk, release);
      for (const plaintext of ready.splice(0)) {
        count(plaintext.length);
        yield plaintext;
      }
    }
    const last = opener.end();
    if (last !== undefined) {
      count(last.length);
      yield last;
    }
  };
}

async function readPrefix(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function formatOf(prefix: Buffer): FileFormat {
  if (prefix.subarray(0, AGE_INTRO.length).toString('latin1') === AGE_INTRO) return 'age';
  if (prefix.subarray(0, FERNET_MAGIC.length).equals(FERNET_MAGIC)) return 'fernet';
  throw new IntegrityError('MALFORMED', 'unknown file format: neither age nor sft fernet');
}
