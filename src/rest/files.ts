/**
 * Encryption at rest, the library's entry points: a path or a stream in, a path or a stream out, to recipients
 * (X25519, post-quantum hybrid, SSH keys) or with a passphrase, in the age format (binary or armored) or the Fernet
 * container. A path output is written to a hidden temporary file and moved into place only once every check
 * passed; on any failure or abort it is removed. Paths are checked before a passphrase is asked for.
 */
import { open as openFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { IntegrityError, UsageError } from '../errors.js';
import { decryptAge, encryptAge, type AgeKeys } from './age-file.js';
import { AGE_INTRO } from './age-header.js';
import { ArmorDecoder, looksArmored } from './armor.js';
import { decryptFernet, encryptFernet, FERNET_MAGIC } from './fernet-file.js';
import { abortable, ByteSource, checkPaths, counted, FileOutput, interrupted, readFileChunks, readStreamChunks, StreamOutput, type Output } from './io.js';
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
  return recipients;
}

function identitiesOf(options: DecryptFileOptions): Identity[] {
  return (options.identities ?? []).flatMap((i) => (typeof i === 'string' ? parseIdentitiesFile(i, 'identity') : [i]));
}

/** Chunks of the input (counted for progress, abortable) and its path checks. */
async function open(input: Input, target: Target, options: CommonOptions) {
  const inputPath = typeof input === 'string' ? input : undefined;
  const outputPath = typeof target === 'string' ? target : undefined;
  const checks = await checkPaths(inputPath, outputPath, options.overwrite === true);
  const chunks = typeof input === 'string' ? readFileChunks(input) : readStreamChunks(input);
  return { checks, chunks: abortable(counted(chunks, checks.size ?? 0, options.onProgress), options.signal) };
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
  const { chunks } = await open(input, output, options);
  let size = 0;
  const source = counted(chunks, 0, (done) => (size = done));
  await writeTo(output, 0o666, options, (out) =>
    password !== undefined && format === 'fernet'
      ? encryptFernet(source, out, password, options.iterations, options.signal)
      : encryptAge(source, out, recipients, { armor: options.armor === true, ...(options.signal ? { signal: options.signal } : {}) }),
  );
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
  const { checks, chunks } = await open(input, output, options);
  const source = new ByteSource(chunks);
  const prefix = await source.read(AGE_INTRO.length);
  source.unshift(prefix);
  const keys: AgeKeys = { identities, ...(options.password === undefined ? {} : { password: options.password }), ...(options.maxWorkFactor === undefined ? {} : { maxWorkFactor: options.maxWorkFactor }) };
  const mode = 0o600 & (checks.mode ?? 0o600);
  if (prefix.subarray(0, FERNET_MAGIC.length).equals(FERNET_MAGIC)) {
    if (options.password === undefined) throw new UsageError('this is a Fernet container: decrypt it with its password');
    const password = options.password;
    const result = await writeTo(output, mode, options, (out) => decryptFernet(source, out, password, options.signal));
    return { format: 'fernet', ...result };
  }
  // Anything that is not binary age (an empty input included) goes to the armor decoder, which names junk.
  const binary = Buffer.from(AGE_INTRO).subarray(0, prefix.length).equals(prefix);
  const bytes = binary ? source : new ByteSource(dearmor(source.rest()));
  const size = await writeTo(output, mode, options, (out) => decryptAge(bytes, out, keys, options.signal ? { signal: options.signal } : {}));
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
