/**
 * Encryption at rest, the library's entry points: a path or a stream in, a path or a stream out, to recipients
 * (X25519, post-quantum hybrid, SSH keys) or with a passphrase, in the age format (binary or armored) or the Fernet
 * container. A path output is written to a hidden temporary file and moved into place only once every check
 * passed; on any failure or abort it is removed. Paths are checked before a passphrase is asked for.
 */
import { open as openFile, type FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { IntegrityError, UsageError } from '../errors.js';
import { CIPHERTEXT_BATCH, decryptAge, encryptAge, PLAINTEXT_BATCH, type AgeKeys } from './age-file.js';
import { FileBatches, StreamBatches } from './batches.js';
import { AGE_INTRO } from './age-header.js';
import { ArmorDecoder, looksArmored } from './armor.js';
import { decryptFernet, encryptFernet, FERNET_MAGIC } from './fernet-file.js';
import { ByteSource, checkPaths, counted, FileOutput, interrupted, READ_SIZE, readStreamChunks, StreamOutput, type Output, type PathChecks } from './io.js';
import { fileError } from '../util/fs-errors.js';
import { parseIdentitiesFile, parseRecipient } from './keys.js';
import type { Identity, Recipient } from './recipients/recipient.js';
import { ScryptRecipient, type Passphrase } from './recipients/scrypt.js';

export type FileFormat = 'age' | 'fernet';
export const FILE_FORMATS: readonly FileFormat[] = ['age', 'fernet'];
export type { Passphrase } from './recipients/scrypt.js';

/** A path, or a stream (standard input or output, a socket, …). */
export type Input = string | Readable | NodeJS.ReadableStream;
export type Target = string | Writable | NodeJS.WritableStream;

export interface ProgressOptions {
  /** Called as input is read: bytes read so far and the input's size (0 when unknown: a stream). */
  onProgress?: (done: number, total: number) => void;
}

export interface CommonOptions extends ProgressOptions {
  /** Replace the output file if it exists (otherwise OutputExistsError, before any work). */
  overwrite?: boolean;
  /** Aborting stops the work, removes the temporary output and rejects with InterruptedError (or the reason, if an SftError). */
  signal?: AbortSignal;
}

export interface EncryptFileOptions extends CommonOptions {
  /**
   * Public keys to encrypt to: `age1…` (X25519), `age1pq1…` (ML-KEM-768 + X25519), `ssh-ed25519 AAAA…`,
   * `ssh-rsa AAAA…`, or Recipient objects (parseRecipientsFile reads a recipients file).
   */
  recipients?: readonly (string | Recipient)[];
  /** A passphrase (scrypt in age, PBKDF2 in the Fernet container); the default when there are no recipients. */
  password?: Passphrase;
  /** ASCII armor (age format only). */
  armor?: boolean;
  /** 'age' (default): a standard age file. 'fernet': the Fernet container, passphrase only. */
  format?: FileFormat;
  /** PBKDF2 iterations for the fernet format (default 600,000, at most 10,000,000). */
  iterations?: number;
  /** scrypt work factor, log2 N, for a passphrase in the age format (default 18, as age). */
  workFactor?: number;
}

export interface DecryptFileOptions extends CommonOptions {
  /**
   * Secret keys: `AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`, the text of an identity file or of an unencrypted
   * OpenSSH private key, or Identity objects (parseIdentitiesFile reads an identity file).
   */
  identities?: readonly (string | Identity)[];
  /** The passphrase, for a passphrase-encrypted file; a function is called only if the file needs one. */
  password?: Passphrase;
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

function recipientsOf(options: EncryptFileOptions): Recipient[] {
  const recipients = (options.recipients ?? []).map((r) => (typeof r === 'string' ? parseRecipient(r) : r));
  if (options.password !== undefined) {
    if (recipients.length > 0) throw new UsageError('a passphrase cannot be combined with recipients');
    recipients.push(new ScryptRecipient(options.password, options.workFactor));
  }
  if (recipients.length === 0) throw new UsageError('nothing to encrypt to: give recipients or a password');
  // As age 1.3: a file for a post-quantum and a classic recipient would be only as safe as the classic one.
  if (recipients.some((r) => r.postQuantum) && recipients.some((r) => !r.postQuantum)) {
    throw new UsageError('post-quantum (age1pq1…) and classic recipients cannot be mixed: the file would be only as safe as the classic one');
  }
  return recipients;
}

function identitiesOf(options: DecryptFileOptions): Identity[] {
  return (options.identities ?? []).flatMap((i) => (typeof i === 'string' ? parseIdentitiesFile(i, 'identity') : [i]));
}

/**
 * The input, opened after the path checks: a file handle and its size, or a stream's chunks.
 */
async function openInput(input: Input, target: Target, options: CommonOptions): Promise<{ checks: PathChecks; file?: { handle: FileHandle; size: number }; chunks: AsyncGenerator<Buffer> }> {
  const checks = await checkPaths(typeof input === 'string' ? input : undefined, typeof target === 'string' ? target : undefined, options.overwrite === true);
  if (typeof input !== 'string') return { checks, chunks: readStreamChunks(input, options.signal) };
  const handle = await openFile(input, 'r').catch((error: unknown) => {
    throw fileError(error, 'read', input);
  });
  const info = await handle.stat();
  // A pipe or a device (/dev/stdin) is read as a stream: no offsets, no size.
  if (!info.isFile()) return { checks, chunks: readStreamChunks(handle.createReadStream({ highWaterMark: READ_SIZE }), options.signal) };
  return { checks, file: { handle, size: info.size }, chunks: fileChunks(handle, input) };
}

/** A file's bytes from its start, READ_SIZE at a time (for what is not read in batches: headers, armor, Fernet). */
async function* fileChunks(handle: FileHandle, path: string): AsyncGenerator<Buffer> {
  for (let position = 0; ; ) {
    const buffer = Buffer.allocUnsafe(READ_SIZE);
    const { bytesRead } = await handle.read(buffer, 0, READ_SIZE, position).catch((error: unknown) => {
      throw fileError(error, 'read', path);
    });
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Runs `work` against the target; a path target is committed on success and removed on failure. */
async function writeTo<T>(target: Target, mode: number, options: CommonOptions, work: (output: Output) => Promise<T>): Promise<T> {
  if (typeof target !== 'string') return work(new StreamOutput(target));
  const output = await FileOutput.create(target, mode);
  try {
    const result = await work(output);
    if (options.signal?.aborted === true) throw interrupted(options.signal);
    await output.commit(options.overwrite === true);
    return result;
  } catch (error) {
    await output.discard();
    throw options.signal?.aborted === true ? interrupted(options.signal) : error;
  }
}

/**
 * Encrypts `input` to `output` (paths or streams).
 * @throws UsageError (bad options, recipients), SftError IO (paths, in words; OutputExistsError),
 *   InterruptedError (aborted).
 */
export async function encrypt(input: Input, output: Target, options: EncryptFileOptions): Promise<FileResult> {
  const format = options.format ?? 'age';
  if (!FILE_FORMATS.includes(format)) throw new UsageError(`unknown format "${String(format)}" (age or fernet)`);
  if (format === 'fernet' && (options.recipients?.length || options.password === undefined || options.armor)) {
    throw new UsageError('the fernet format takes a password only (no recipients, no armor)');
  }
  const recipients = format === 'age' ? recipientsOf(options) : [];
  const password = options.password;
  const { file, chunks } = await openInput(input, output, options);
  let size = 0;
  const report = (done: number) => {
    size = done;
    options.onProgress?.(done, file?.size ?? 0);
  };
  try {
    await writeTo(output, 0o666, options, (out) => {
      const batches = file === undefined ? new StreamBatches(new ByteSource(counted(chunks, 0, report)), PLAINTEXT_BATCH) : new FileBatches(file.handle, 0, file.size, PLAINTEXT_BATCH, report);
      if (password !== undefined && format === 'fernet') return encryptFernet(batches, out, password, options.iterations, options.signal);
      return encryptAge(batches, out, recipients, { armor: options.armor === true, ...(options.signal ? { signal: options.signal } : {}) });
    });
  } finally {
    await file?.handle.close();
  }
  return { format, size };
}

/**
 * Decrypts `input` (age, armored age or Fernet container, detected) to `output`. To a stream, plaintext is written as
 * each chunk authenticates, and a failure (tampering, truncation) comes after some was written, as with age: only
 * a resolved promise means the whole file checked. To a path, nothing is left unless everything checked.
 * Created files are 0600, or the input's mode when that is narrower.
 * @throws AuthError (no identity matched, wrong password), IntegrityError (tampered, truncated, malformed),
 *   UsageError (keys), SftError IO, InterruptedError.
 */
export async function decrypt(input: Input, output: Target, options: DecryptFileOptions): Promise<FileResult> {
  const identities = identitiesOf(options);
  const { checks, file, chunks } = await openInput(input, output, options);
  try {
    return await decryptInput(new ByteSource(counted(chunks, file?.size ?? 0, options.onProgress)), file, output, identities, checks, options);
  } finally {
    await file?.handle.close();
  }
}

async function decryptInput(source: ByteSource, file: { handle: FileHandle; size: number } | undefined, output: Target, identities: Identity[], checks: PathChecks, options: DecryptFileOptions): Promise<FileResult> {
  const prefix = await source.read(AGE_INTRO.length);
  source.unshift(prefix);
  const keys: AgeKeys = { identities, ...(options.password === undefined ? {} : { password: options.password }), ...(options.maxWorkFactor === undefined ? {} : { maxWorkFactor: options.maxWorkFactor }) };
  const mode = 0o600 & (checks.mode ?? 0o600);
  const fernet = prefix.subarray(0, FERNET_MAGIC.length).equals(FERNET_MAGIC);
  // Anything that is neither Fernet nor binary age (an empty input included) goes to the armor decoder, which names junk.
  const binary = fernet || Buffer.from(AGE_INTRO).subarray(0, prefix.length).equals(prefix);
  const bytes = binary ? source : new ByteSource(dearmor(source.rest()));
  // A binary file's payload is read in batches straight from the file; anything else is copied into batches.
  const report = (done: number) => options.onProgress?.(done, file?.size ?? 0);
  const payload = (offset: number) => (binary && file !== undefined ? new FileBatches(file.handle, offset, file.size, CIPHERTEXT_BATCH, report) : new StreamBatches(bytes, CIPHERTEXT_BATCH));
  if (fernet) {
    if (options.password === undefined) throw new UsageError('this is a Fernet container: decrypt it with its password');
    const password = options.password;
    const result = await writeTo(output, mode, options, (out) => decryptFernet(source, payload, out, password, options.signal));
    return { format: 'fernet', ...result };
  }
  const size = await writeTo(output, mode, options, (out) => decryptAge(bytes, payload, out, keys, options.signal ? { signal: options.signal } : {}));
  return { format: 'age', size };
}

async function* dearmor(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const decoder = new ArmorDecoder();
  for await (const chunk of chunks) yield* decoder.push(chunk);
  decoder.end();
}

/** Encrypts the file at `input` to the file at `output`. See encrypt(). */
export function encryptFile(input: string, output: string, options: EncryptFileOptions): Promise<FileResult> {
  return encrypt(input, output, options);
}

/** Decrypts the file at `input` to the file at `output`. See decrypt(). */
export function decryptFile(input: string, output: string, options: DecryptFileOptions): Promise<FileResult> {
  return decrypt(input, output, options);
}

/** Reads the first bytes of `path` and names its format. @throws IntegrityError MALFORMED for anything else. */
export async function detectFormat(path: string): Promise<FileFormat> {
  const handle = await openFile(path, 'r').catch((error: unknown) => {
    throw fileError(error, 'read', path);
  });
  const prefix = Buffer.alloc(64);
  const { bytesRead } = await handle.read(prefix, 0, prefix.length, null).finally(() => handle.close());
  return formatOf(prefix.subarray(0, bytesRead));
}

function formatOf(prefix: Buffer): FileFormat {
  if (prefix.subarray(0, FERNET_MAGIC.length).equals(FERNET_MAGIC)) return 'fernet';
  if (prefix.toString('latin1', 0, AGE_INTRO.length) === AGE_INTRO || looksArmored(prefix)) return 'age';
  throw new IntegrityError('MALFORMED', 'unknown file format: neither age nor sft fernet');
}
