/**
 * The sending side of a transfer (docs/PROTOCOL.md §6), the same for the client (sft send) and the server
 * (sft get): headers go a window ahead of content, so the receiver's Offers cost one round trip per window; each
 * Offer is answered with a Start (skip, resume or send all), the content and its trailer; Receipts arrive in
 * order and each must match what was sent.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { IntegrityError, SftError } from '../errors.js';
import { equalConstantTime } from '../crypto/bytes.js';
import { CHUNK_SIZE, FrameType } from '../protocol/frames.js';
import { ContentSealer } from '../protocol/channel.js';
import {
  EntryKind, OfferKind, decodeDone, decodeOffer, decodeReceipt, encodeDone, encodeFileHeader, encodeFileTrailer, encodeStart,
  type Offer, type Start,
} from '../protocol/messages.js';
import { printable } from '../util/text.js';
import { FileWorker } from './file-worker.js';
import { asSftError, type Session } from './session.js';

/** Files at least this large are read and hashed on the file worker's thread. */
const WORKER_THRESHOLD = 4 * 1024 * 1024;
/** Entries announced ahead of their content (the receiver accepts up to MAX_OFFERED). */
const HEADER_WINDOW = 256;
/** Bytes read from disk at a time. */
const READ_SIZE = 1024 * 1024;

/** One entry to send: a file (read from `source`) or a directory. */
export interface SendEntry {
  /** Local path to read (files only). */
  source?: string;
  /** Path sent to the receiver (POSIX, relative). */
  path: string;
  kind: 'file' | 'directory';
  size: number;
  mode: number;
  mtimeNs: bigint;
  /** Open without following a symlink in the last component (the server reading an account's files). */
  noFollow?: boolean;
}

export interface SendProgress {
  path: string;
  index: number;
  done: number;
  size: number;
  totalDone: number;
  totalSize: number;
}

export interface Delivery {
  path: string;
  storedPath: string;
  kind: 'file' | 'directory';
  size: number;
  sha256: string;
  /** True when the receiver already had it (nothing was sent). */
  skipped: boolean;
}

export interface Undelivered {
  path: string;
  code: string;
  message: string;
}

export interface SenderHooks {
  onProgress?: (progress: SendProgress) => void;
  onDelivered?: (delivery: Delivery) => void;
  /** The receiver refused the entry (its name, size or quota) or could not store it. */
  onUndelivered?: (entry: Undelivered, refused: boolean) => void;
}

export interface SendSummary {
  delivered: Delivery[];
  refused: Undelivered[];
  failed: Undelivered[];
  /** Total size of the files. */
  bytes: number;
  /** File content actually transmitted. */
  sentBytes: number;
  /** File content the receiver already held (resumed partials, files already stored). */
  resumedBytes: number;
}

type Outcome = 'delivered' | 'refused' | 'failed';

interface Expected {
  index: number;
  entry: SendEntry;
  size: number;
  sha256: Buffer;
  storedPath?: string;
  skipped: boolean;
}

export class Sender {
  readonly #offers = new OfferQueue();
  readonly #expected: Expected[] = [];
  readonly #summary: SendSummary;
  readonly #counts: Record<Outcome, number> = { delivered: 0, refused: 0, failed: 0 };
  #totalDone = 0;
  #announced = 0;
  /** Where a file of one chunk or less is read, whole: sealing copies it out, so one buffer serves every such file. */
  #scratch: Buffer | undefined;

  constructor(
    private readonly session: Session,
    private readonly entries: readonly SendEntry[],
    private readonly hooks: SenderHooks = {},
    /** `records: false`: the summary's lists stay empty, as Receiver's limits.records (a server's get). */
    private readonly options: { records?: boolean } = {},
  ) {
    this.#summary = { delivered: [], refused: [], failed: [], bytes: entries.reduce((n, e) => n + e.size, 0), sentBytes: 0, resumedBytes: 0 };
  }

  /** How many entries were delivered, refused and failed so far (kept with `records: false` too). */
  get counts(): Readonly<Record<Outcome, number>> {
    return this.#counts;
  }

  /** Sends every entry; resolves once each has a matching receipt (or was refused) and the receiver's Done. */
  async run(): Promise<SendSummary> {
    const receiving = this.#receive();
    receiving.catch((error: unknown) => {
      this.#offers.fail(asSftError(error));
      this.session.conn.fail(asSftError(error));
    });
    return this.#sendAll(receiving);
  }

  async #sendAll(receiving: Promise<void>): Promise<SendSummary> {
    try {
      for (const [index, entry] of this.entries.entries()) {
        if (index % HEADER_WINDOW === 0) this.#announce(index + 2 * HEADER_WINDOW);
        await this.#sendEntry(index, entry, await this.#offers.next(index));
      }
      this.session.send(FrameType.Done, encodeDone({ entries: this.entries.length, failed: 0, refused: 0 }));
    } catch (error) {
      await receiving.catch(() => undefined);
      throw error;
    }
    await receiving;
    return this.#summary;
  }

  #announce(upTo: number): void {
    for (; this.#announced < Math.min(upTo, this.entries.length); this.#announced++) {
      const e = this.entries[this.#announced] as SendEntry;
      const kind = e.kind === 'directory' ? EntryKind.Directory : EntryKind.File;
      this.session.send(FrameType.FileHeader, encodeFileHeader({ index: this.#announced, kind, path: e.path, size: e.size, mode: e.mode, mtimeNs: e.mtimeNs }));
    }
  }

  async #sendEntry(index: number, entry: SendEntry, offer: Offer): Promise<void> {
    if (offer.kind === OfferKind.Refused) {
      const refused = { path: entry.path, code: offer.code, message: printable(offer.message) };
      this.#record('refused', refused);
      this.hooks.onUndelivered?.(refused, true);
      return;
    }
    if (entry.kind === 'directory') {
      this.#start({ index, skip: false, offset: 0 });
      this.#expected.push({ index, entry, size: 0, sha256: Buffer.alloc(0), skipped: false });
      return;
    }
    const file = await openEntry(entry, () => (this.#scratch ??= Buffer.allocUnsafe(CHUNK_SIZE)));
    try {
      const decision = await this.#decide(file, entry, offer);
      this.#start(decision.start);
      if (decision.start.skip) {
        this.#summary.resumedBytes += entry.size;
        this.#expected.push({ index, entry, size: entry.size, sha256: decision.sha256, skipped: true });
        this.#report(index, entry, entry.size, entry.size);
        return;
      }
      const sha256 = await this.#sendContent(index, entry, file, decision.start.offset, decision.hash);
      this.#expected.push({ index, entry, size: entry.size, sha256, skipped: false });
      this.session.send(FrameType.FileTrailer, encodeFileTrailer({ index, sha256 }));
      await this.session.drained();
    } finally {
      await file.close();
    }
  }

  #start(start: Start): void {
    this.session.send(FrameType.Start, encodeStart(start));
  }

  /** Skip when a stored candidate has this file's SHA-256; resume when the receiver's prefix matches; else all. */
  async #decide(file: Source, entry: SendEntry, offer: Offer): Promise<{ start: Start; sha256: Buffer; hash?: Hash }> {
    const index = offer.index;
    if (offer.kind === OfferKind.Have) {
      const local = (await hashPrefix(file, entry.size)).digest();
      const candidate = offer.candidates.findIndex((c) => equalConstantTime(c.sha256, local));
      if (candidate >= 0) return { start: { index, skip: true, candidate }, sha256: local };
    }
    if (offer.kind === OfferKind.Resume && offer.offset > 0 && offer.offset < entry.size && offer.offset % CHUNK_SIZE === 0) {
      const prefix = await hashPrefix(file, offer.offset);
      // A source changed since the partial was stored starts over.
      if (equalConstantTime(prefix.copy().digest(), offer.sha256)) return { start: { index, skip: false, offset: offer.offset }, sha256: Buffer.alloc(0), hash: prefix };
    }
    return { start: { index, skip: false, offset: 0 }, sha256: Buffer.alloc(0) };
  }

  /**
   * Reads, hashes and seals the content from `offset`; returns the SHA-256 of the whole file. A large file is read
   * and hashed on the file worker's thread while this one seals and sends.
   */
  async #sendContent(index: number, entry: SendEntry, file: Source, offset: number, prefix?: Hash): Promise<Buffer> {
    const sealer = new ContentSealer(this.session.keys.suite, this.session.fileKey(this.session.outgoing, index), offset / CHUNK_SIZE);
    this.#summary.resumedBytes += offset;
    this.#totalDone += offset;
    if (entry.size === 0) {
      this.session.sendContent(FrameType.FinalChunk, sealer.seal(Buffer.alloc(0), true));
      return createHash('sha256').digest();
    }
    const blocks = file.fd !== undefined && entry.size - offset >= WORKER_THRESHOLD ? this.#workerBlocks(file.fd, offset, entry.size) : directBlocks(file, offset, entry.size, prefix);
    let done = offset;
    for await (const block of blocks) {
      // A block's chunks leave in one write: the connection flushes what one event-loop turn wrote.
      for (let at = 0; at < block.length; at += CHUNK_SIZE) {
        const chunk = block.subarray(at, at + CHUNK_SIZE);
        done += chunk.length;
        const last = done === entry.size;
        this.session.sendContent(last ? FrameType.FinalChunk : FrameType.Chunk, sealer.seal(chunk, last));
      }
      this.#summary.sentBytes += block.length;
      this.#report(index, entry, done, block.length);
      await this.session.drained();
    }
    if (done !== entry.size) throw new SftError('IO', `${entry.source ?? entry.path} shrank while it was being sent`);
    return blocks.sha256();
  }

  /** Blocks read and hashed by the file worker; each goes back to it once sealed (sealing copies it). */
  #workerBlocks(fd: number, offset: number, size: number): Blocks {
    const source = FileWorker.shared().source(fd, offset, size);
    // Stopped early: the worker stops reading before the caller closes the file.
    const stop = () => source.abort();
    return {
      async *[Symbol.asyncIterator]() {
        let complete = false;
        try {
          for (let block = await source.next(); block !== undefined; block = await source.next()) {
            yield block;
            source.recycle(block);
          }
          complete = true;
        } finally {
          if (!complete) await stop();
        }
      },
      sha256: () => source.sha256,
    };
  }

  #report(index: number, entry: SendEntry, done: number, added: number): void {
    this.#totalDone += added;
    this.hooks.onProgress?.({ path: entry.path, index, done, size: entry.size, totalDone: this.#totalDone, totalSize: this.#summary.bytes });
  }

  /** Reads Offers and Receipts until the receiver's Done; each Receipt must match what was sent, in order. */
  async #receive(): Promise<void> {
    let receipts = 0;
    for (;;) {
      const frame = await this.session.next(receipts < this.entries.length ? 'an offer or a receipt' : "the receiver's done");
      if (frame.type === FrameType.Offer) {
        this.#offers.put(decodeOffer(frame.body));
      } else if (frame.type === FrameType.Receipt) {
        this.#receipt(decodeReceipt(frame.body));
        receipts++;
      } else if (frame.type === FrameType.Done) {
        return this.#checkDone(decodeDone(frame.body));
      } else {
        throw new IntegrityError('MALFORMED', `unexpected frame type 0x${frame.type.toString(16)}`);
      }
    }
  }

  #receipt(receipt: ReturnType<typeof decodeReceipt>): void {
    const sent = this.#expected.shift();
    if (sent === undefined || receipt.index !== sent.index) throw new IntegrityError('TAMPERED', `receipt for entry ${receipt.index} out of order`);
    if (!receipt.stored) {
      const failed = { path: sent.entry.path, code: receipt.code, message: printable(receipt.message) };
      this.#record('failed', failed);
      this.hooks.onUndelivered?.(failed, false);
      return;
    }
    if (sent.entry.kind === 'file' && (receipt.size !== sent.size || !equalConstantTime(receipt.sha256, sent.sha256))) {
      throw new IntegrityError('HASH_MISMATCH', `the receiver stored ${sent.entry.path} with a different size or sha-256`);
    }
    const delivery: Delivery = {
      path: sent.entry.path,
      storedPath: receipt.storedPath,
      kind: sent.entry.kind,
      size: receipt.size,
      sha256: sent.entry.kind === 'file' ? receipt.sha256.toString('hex') : '',
      skipped: sent.skipped,
    };
    this.#record('delivered', delivery);
    this.hooks.onDelivered?.(delivery);
  }

  #record<K extends Outcome>(outcome: K, item: SendSummary[K][number]): void {
    this.#counts[outcome]++;
    if (this.options.records !== false) (this.#summary[outcome] as SendSummary[K][number][]).push(item);
  }

  #checkDone(done: ReturnType<typeof decodeDone>): void {
    const { delivered, failed, refused } = this.#counts;
    if (this.#expected.length > 0 || done.entries !== delivered || done.failed !== failed || done.refused !== refused) {
      throw new IntegrityError('TAMPERED', `the receiver confirms ${done.entries} entries stored, ${delivered} receipts arrived`);
    }
  }
}

/** A file's content in blocks, and its SHA-256 once they were all read. */
interface Blocks extends AsyncIterable<Buffer> {
  sha256(): Buffer;
}

/**
 * Blocks read and hashed on this thread, into one buffer reused for each (sealing copies the bytes out); a small
 * file already read whole is one block, as it is.
 */
function directBlocks(file: Source, offset: number, size: number, prefix?: Hash): Blocks {
  const hash = prefix ?? createHash('sha256');
  return {
    async *[Symbol.asyncIterator]() {
      if (file.whole !== undefined) {
        const block = file.whole.subarray(offset, size);
        hash.update(block);
        yield block;
        return;
      }
      const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, Math.max(size - offset, 1)));
      for (let done = offset; done < size; ) {
        const bytesRead = await file.read(buffer, Math.min(buffer.length, size - done), done);
        if (bytesRead === 0) return;
        const block = buffer.subarray(0, bytesRead);
        hash.update(block);
        done += bytesRead;
        yield block;
      }
    },
    sha256: () => hash.digest(),
  };
}

/** Where content is read from: small files whole and synchronously, larger ones through a file handle. */
interface Source {
  /** Reads up to `length` bytes at `position` into `buffer`; returns the bytes read. */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  close(): Promise<void>;
  /** The open descriptor of a large file (the file worker reads it). */
  fd?: number;
  /** The whole content of a small file. */
  whole?: Buffer;
}

function cannotRead(source: string, error: NodeJS.ErrnoException): SftError {
  const why = error.code === 'ELOOP' ? 'it became a symlink' : error.code === 'ENOENT' ? 'it was removed' : error.code === 'EACCES' ? 'permission denied' : (error.code ?? error.message);
  return new SftError('IO', `cannot read ${source}: ${why}`);
}

/**
 * Opens a file to send. The server reading an account's files opens with O_NOFOLLOW (its parents were checked one
 * by one); either way the file must still be a regular file of at least the announced size. A file of one chunk
 * or less is read whole with synchronous calls, into `scratch()`: ~10 µs on a local disk, where open, fstat, read and
 * close through the thread pool cost ~50 µs of latency each.
 */
async function openEntry(entry: SendEntry, scratch: () => Buffer): Promise<Source> {
  const source = entry.source ?? entry.path;
  const flags = constants.O_RDONLY | (entry.noFollow === true ? constants.O_NOFOLLOW : 0);
  const changed = () => new SftError('IO', `${source} changed while it was being sent`);
  if (entry.size <= CHUNK_SIZE) {
    let content: Buffer;
    try {
      const fd = openSync(source, flags);
      try {
        const info = fstatSync(fd);
        if (!info.isFile() || info.size < entry.size) throw changed();
        content = scratch().subarray(0, entry.size);
        if (entry.size > 0 && readSync(fd, content, 0, entry.size, 0) !== entry.size) throw changed();
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      throw error instanceof SftError ? error : cannotRead(source, error as NodeJS.ErrnoException);
    }
    return {
      read: async (buffer, length, position) => content.copy(buffer, 0, position, position + length),
      close: async () => undefined,
      whole: content,
    };
  }
  const handle: FileHandle = await open(source, flags).catch((error: NodeJS.ErrnoException) => {
    throw cannotRead(source, error);
  });
  const info = await handle.stat();
  if (!info.isFile() || info.size < entry.size) {
    await handle.close();
    throw changed();
  }
  return {
    read: async (buffer, length, position) => (await handle.read(buffer, 0, length, position)).bytesRead,
    close: () => handle.close(),
    fd: handle.fd,
  };
}

async function hashPrefix(file: Source, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, Math.max(length, 1)));
  for (let done = 0; done < length; ) {
    const bytesRead = await file.read(buffer, Math.min(buffer.length, length - done), done);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
  return hash;
}

/** Offers arrive on the receiving loop; the sending loop waits for the one of the entry it is about to send. */
class OfferQueue {
  readonly #arrived = new Map<number, Offer>();
  #waiting: { index: number; resolve: (offer: Offer) => void; reject: (error: Error) => void } | undefined;
  #error: Error | undefined;

  put(offer: Offer): void {
    if (this.#waiting?.index === offer.index) {
      this.#waiting.resolve(offer);
      this.#waiting = undefined;
    } else {
      this.#arrived.set(offer.index, offer);
    }
  }

  next(index: number): Promise<Offer> {
    const offer = this.#arrived.get(index);
    if (offer !== undefined) {
      this.#arrived.delete(index);
      return Promise.resolve(offer);
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => (this.#waiting = { index, resolve, reject }));
  }

  fail(error: Error): void {
    this.#error = error;
    this.#waiting?.reject(error);
    this.#waiting = undefined;
  }
}

