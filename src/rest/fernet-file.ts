/**
 * The Fernet file container: the original design's pipeline (a random salt per file, PBKDF2-HMAC-SHA256 to a Fernet
 * key, the content as Fernet tokens), made safe to stream. See docs/PROTOCOL.md "Fernet file format".
 *
 *   header  = "SFT-FERNET/1\n" ‖ iterations (u32 BE) ‖ salt (16)
 *   record  = token length (u32 BE) ‖ token (url-safe base64 text, as Python's Fernet.encrypt returns it)
 *   token plaintext = kind (u8: 0 data, 1 end) ‖ index (u64 BE) ‖ body
 *     data: body = 1..65536 content bytes, index = 0, 1, 2, ...
 *     end:  body = SHA-256 of the content (32) ‖ content length (u64 BE), index = number of data records
 *
 * The index binds the order, the end record binds the end of the file and the content hash, and nothing may follow it.
 * A file is not a token in flight: Fernet's 60-second rule against timestamps in the future is not applied (a file
 * written on a machine whose clock is fast must still decrypt). The passphrase handling (PBKDF2 to the Fernet key)
 * lives here, beside the format it belongs to.
 */
import { randomBytes } from 'node:crypto';
import { AuthError, IntegrityError, SftError, UsageError } from '../errors.js';
import { Fernet } from '../crypto/fernet.js';
import { createSha256 } from '../crypto/hash.js';
import { CHUNK_SIZE } from '../crypto/stream.js';
import { DEFAULT_ITERATIONS, pbkdf2Sha256 } from '../crypto/pbkdf2.js';
import { ByteQueue } from '../util/byte-queue.js';
import { equalConstantTime, u64be } from '../crypto/bytes.js';
import type { Batches } from './batches.js';
import { throwIfAborted, type ByteSource, type Output } from './io.js';
import { resolvePassphrase, type Passphrase } from './recipients/scrypt.js';

export const FERNET_MAGIC = Buffer.from('SFT-FERNET/1\n');
export const FERNET_HEADER_SIZE = FERNET_MAGIC.length + 4 + 16;
/**
 * The most PBKDF2 iterations a Fernet file may ask for: ~6 s of CPU here. Without a cap a 150-byte hostile file
 * could ask for 2^32 - 1 (the old cap of 100,000,000 cost 19.9 s).
 */
export const MAX_FILE_ITERATIONS = 10_000_000;
export { DEFAULT_ITERATIONS };
const KIND_DATA = 0;
const KIND_END = 1;
const RECORD_PREFIX = 9;
/** The base64 length of the largest token: header 25, ciphertext of 9 + 65536 bytes padded, HMAC 32. */
export const MAX_TOKEN_CHARS = Math.ceil((25 + (Math.floor((RECORD_PREFIX + CHUNK_SIZE) / 16) + 1) * 16 + 32) / 3) * 4;

export function encodeFernetFileHeader(iterations: number, salt: Uint8Array): Buffer {
  const out = Buffer.alloc(FERNET_HEADER_SIZE);
  FERNET_MAGIC.copy(out);
  out.writeUInt32BE(iterations, FERNET_MAGIC.length);
  out.set(salt, FERNET_MAGIC.length + 4);
  return out;
}

/** @throws IntegrityError MALFORMED when the header is short, has the wrong magic, or an iteration count out of range. */
export function parseFernetFileHeader(data: Buffer): { iterations: number; salt: Buffer } {
  if (data.length < FERNET_HEADER_SIZE || !data.subarray(0, FERNET_MAGIC.length).equals(FERNET_MAGIC)) {
    throw new IntegrityError('MALFORMED', 'not an sft fernet file, or its header is truncated');
  }
  const iterations = data.readUInt32BE(FERNET_MAGIC.length);
  if (iterations < 1 || iterations > MAX_FILE_ITERATIONS) throw new IntegrityError('MALFORMED', `fernet file: iteration count ${iterations} out of range (1 to ${MAX_FILE_ITERATIONS})`);
  return { iterations, salt: Buffer.from(data.subarray(FERNET_MAGIC.length + 4, FERNET_HEADER_SIZE)) };
}

/**
 * Turns content, pushed in any split, into records. To spare the garbage collector, tokens are built in one reused
 * buffer and records written into two output buffers used in turn: what push() or end() returns is valid until the
 * call after next (the caller writes one batch while the next is built).
 */
export class FernetFileWriter {
  readonly #fernet: Fernet;
  readonly #pending = new ByteQueue();
  readonly #hash = createSha256();
  readonly #token = Buffer.allocUnsafe(Math.ceil((MAX_TOKEN_CHARS * 3) / 4));
  readonly #outputs: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)];
  #turn = 0;
  #index = 0;
  #length = 0;

  constructor(fernet: Fernet) {
    this.#fernet = fernet;
  }

  push(content: Buffer): Buffer[] {
    this.#pending.push(content);
    this.#hash.update(content);
    this.#length += content.length;
    const bodies: Buffer[] = [];
    while (this.#pending.length >= CHUNK_SIZE) bodies.push(this.#pending.take(CHUNK_SIZE));
    return this.#records(bodies.map((body) => [KIND_DATA, body] as const));
  }

  end(): Buffer[] {
    const records: (readonly [number, Buffer])[] = [];
    if (this.#pending.length > 0) records.push([KIND_DATA, this.#pending.take(this.#pending.length)]);
    records.push([KIND_END, Buffer.concat([this.#hash.digest(), u64be(this.#length)])]);
    return this.#records(records);
  }

  /** Each record: token length (u32 BE) ‖ token (base64url text), written into this turn's output buffer. */
  #records(records: readonly (readonly [number, Buffer])[]): Buffer[] {
    if (records.length === 0) return [];
    const size = records.length * (4 + MAX_TOKEN_CHARS);
    this.#turn ^= 1;
    if ((this.#outputs[this.#turn] as Buffer).length < size) this.#outputs[this.#turn] = Buffer.allocUnsafe(size);
    const out = this.#outputs[this.#turn] as Buffer;
    let at = 0;
    for (const [kind, body] of records) {
      const prefix = Buffer.alloc(RECORD_PREFIX);
      prefix[0] = kind;
      prefix.writeBigUInt64BE(BigInt(this.#index++), 1);
      // Python's urlsafe_b64encode pads with "=": written here, not concatenated to an 87 KB string.
      const bytes = this.#fernet.encryptToBytes([prefix, body], {}, this.#token);
      const padding = (3 - (bytes.length % 3)) % 3;
      const start = out.writeUInt32BE(Math.ceil(bytes.length / 3) * 4, at);
      at = start + out.write(bytes.toString('base64url'), start, 'latin1');
      out.fill(0x3d, at, at + padding);
      at += padding;
    }
    // The end record's index is the number of data records: it does not count itself.
    if (records[records.length - 1]?.[0] === KIND_END) this.#index--;
    return [out.subarray(0, at)];
  }
}

/**
 * Reads records pushed in any split, releasing each data record's content once its token verified and its index
 * checked. end() checks that the end record arrived and that the SHA-256 and length of the content match it.
 * @throws AuthError when the first token fails its HMAC (wrong password), IntegrityError otherwise.
 */
export class FernetFileReader {
  readonly #fernet: Fernet;
  readonly #pending = new ByteQueue();
  readonly #hash = createSha256();
  #index = 0;
  #length = 0;
  #ended = false;
  #sha256 = '';
  /** Tokens are decoded from base64url into this one buffer. */
  readonly #scratch = Buffer.allocUnsafe(Math.ceil((MAX_TOKEN_CHARS * 3) / 4));

  constructor(fernet: Fernet) {
    this.#fernet = fernet;
  }

  /** Hex SHA-256 of the content, set once the end record verified. */
  get sha256(): string {
    return this.#sha256;
  }

  push(data: Buffer, release: (content: Buffer) => void): void {
    this.#pending.push(data);
    while (this.#pending.length >= 4) {
      if (this.#ended) throw new IntegrityError('TAMPERED', 'fernet file: data after the end record');
      const tokenLength = this.#pending.peek(4).readUInt32BE(0);
      if (tokenLength < 1 || tokenLength > MAX_TOKEN_CHARS) throw new IntegrityError('MALFORMED', `fernet file: record ${this.#index} has a bad length`);
      if (this.#pending.length < 4 + tokenLength) {
        // Callers reuse their buffers: keep a copy of the partial record, not a view into theirs.
        this.#pending.push(Buffer.from(this.#pending.take(this.#pending.length)));
        return;
      }
      this.#pending.take(4);
      this.#record(this.#pending.take(tokenLength), release);
    }
    if (this.#ended && this.#pending.length > 0) throw new IntegrityError('TAMPERED', 'fernet file: data after the end record');
  }

  end(): void {
    if (!this.#ended || this.#pending.length > 0) throw new IntegrityError('TRUNCATED', 'fernet file truncated: end record missing');
  }

  #record(token: Buffer, release: (content: Buffer) => void): void {
    let plain: Buffer;
    try {
      plain = this.#fernet.decrypt(token.toString('latin1'), { maxClockSkew: Infinity }, this.#scratch);
    } catch (error) {
      if (this.#index === 0 && error instanceof SftError && error.code === 'TAMPERED') throw new AuthError();
      throw new IntegrityError('TAMPERED', `fernet file: record ${this.#index} failed verification (${(error as Error).message})`);
    }
    if (plain.length < RECORD_PREFIX || plain.readBigUInt64BE(1) !== BigInt(this.#index)) {
      throw new IntegrityError('TAMPERED', `fernet file: record ${this.#index} out of order`);
    }
    const body = plain.subarray(RECORD_PREFIX);
    if (plain[0] === KIND_DATA && body.length > 0 && body.length <= CHUNK_SIZE) {
      this.#hash.update(body);
      this.#length += body.length;
      this.#index++;
      release(body);
    } else if (plain[0] === KIND_END && body.length === 40) {
      if (body.readBigUInt64BE(32) !== BigInt(this.#length)) throw new IntegrityError('TAMPERED', 'fernet file: content length mismatch');
      const digest = this.#hash.digest();
      if (!equalConstantTime(digest, body.subarray(0, 32))) throw new IntegrityError('HASH_MISMATCH', 'fernet file: sha-256 of the content does not match');
      this.#sha256 = digest.toString('hex');
      this.#ended = true;
    } else {
      throw new IntegrityError('MALFORMED', `fernet file: record ${this.#index} is malformed`);
    }
  }
}

/** The Fernet key for a file: PBKDF2-HMAC-SHA256(passphrase, salt, iterations), 32 bytes. */
async function fernetFor(password: Passphrase, salt: Uint8Array, iterations: number): Promise<Fernet> {
  return new Fernet(await pbkdf2Sha256(await resolvePassphrase(password), salt, iterations, 32));
}

/** Encrypts `source` (batches of whole 64 KiB chunks) to `output` as a Fernet container. */
export async function encryptFernet(source: Batches, output: Output, password: Passphrase, iterations = DEFAULT_ITERATIONS, signal?: AbortSignal): Promise<void> {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_FILE_ITERATIONS) {
    throw new UsageError(`"iterations" expected an integer in [1, ${MAX_FILE_ITERATIONS}], got ${iterations}`);
  }
  const salt = randomBytes(16);
  const writer = new FernetFileWriter(await fernetFor(password, salt, iterations));
  await output.write([encodeFernetFileHeader(iterations, salt)]);
  const emit = (records: Buffer[]) => output.write(output.keepsChunks ? records.map((r) => Buffer.from(r)) : records);
  for (let last = false; !last; ) {
    throwIfAborted(signal);
    const batch = await source.next();
    last = batch.last;
    // Whole chunks per batch: the writer keeps nothing of the batch's buffer, which the next call reads into. The
    // records are in the writer's own buffers, reused two calls later: a stream that keeps chunks gets copies.
    await emit(writer.push(batch.data));
    if (last) await emit(writer.end());
  }
  await output.flush();
}

/**
 * Decrypts a Fernet container from `source` to `output`, each record's content as it verifies.
 * @returns the content's size and hex SHA-256 (checked against the end record).
 * @throws AuthError (wrong password), IntegrityError (tampered, truncated, malformed).
 */
export async function decryptFernet(source: ByteSource, payload: (offset: number) => Batches, output: Output, password: Passphrase, signal?: AbortSignal): Promise<{ size: number; sha256: string }> {
  const { iterations, salt } = parseFernetFileHeader(await source.read(FERNET_HEADER_SIZE));
  const reader = new FernetFileReader(await fernetFor(password, salt, iterations));
  let size = 0;
  const released: Buffer[] = [];
  const release = (content: Buffer) => {
    released.push(content);
    size += content.length;
  };
  const batches = payload(FERNET_HEADER_SIZE);
  for (let last = false; !last; ) {
    throwIfAborted(signal);
    const batch = await batches.next();
    last = batch.last;
    reader.push(batch.data, release);
    await output.write(released.splice(0));
  }
  reader.end();
  await output.flush();
  return { size, sha256: reader.sha256 };
}
