/**
 * The receiving side of a transfer (docs/PROTOCOL.md §6), the same for the server (sft send) and the client
 * (sft get): every announced entry gets an Offer at once; each Start is followed by its content, which is opened
 * chunk by chunk, hashed, written to a temporary file, checked against the trailer's SHA-256, then committed
 * (fsync, place, directory fsync) while the next file streams in; Receipts go back in order.
 */
import { IntegrityError, SftError } from '../errors.js';
import { byteLength, equalConstantTime } from '../crypto/bytes.js';
import { CHUNK_SIZE, FrameType, type Frame } from '../protocol/frames.js';
import { ContentOpener } from '../protocol/channel.js';
import {
  EntryKind, OfferKind, decodeDone, decodeFileHeader, decodeFileTrailer, decodeNotice, decodeStart, encodeDone, encodeOffer, encodeReceipt,
  type FileHeader, type Notice, type Offer, type Receipt, type Start,
} from '../protocol/messages.js';
import { printable } from '../util/text.js';
import { FileWorker } from './file-worker.js';
import type { ClaimedPartial, PartialIdentity } from './partials.js';
import { asSftError, type Session } from './session.js';
import type { FileStore, IncomingFile } from './store.js';

/** Files at least this large are hashed and written on the file worker's thread. */
const WORKER_THRESHOLD = 4 * 1024 * 1024;
/** Files whose fsync and placement may be in flight at once. */
const MAX_PENDING_COMMITS = 32;
/** Files at least this large are checked against the free space before any content. */
const FREE_SPACE_CHECK = 1024 * 1024;
/** Entries a sender may announce ahead of their content. */
export const MAX_OFFERED = 1024;

export interface ReceiverLimits {
  maxFileSize: number;
  maxEntries: number;
  /** Bytes the receiving root may still take (an account's quota less its usage). */
  quotaLeft?: number;
  /**
   * false: the summary's lists stay empty; outcomes are still counted and reported through the hooks. A server sets
   * it: it reports each file as it goes, and a record per entry (or notice) of a 1,000,000-entry session would be
   * hundreds of MB held until the session ends.
   */
  records?: boolean;
}

export interface StoredEntry {
  path: string;
  storedPath: string;
  kind: 'file' | 'directory';
  size: number;
  sha256: string;
  /** Bytes already here before this session (a resumed partial, or all of them for a file skipped as present). */
  resumedFrom: number;
}

export interface ReceiverHooks {
  onStored?: (entry: StoredEntry) => void;
  onFailed?: (path: string, error: SftError) => void;
  onProgress?: (progress: { path: string; done: number; size: number }) => void;
  /** Something the sender could not send (a missing path, a symlink it skipped). */
  onNotice?: (notice: Notice) => void;
}

export interface ReceiveSummary {
  stored: StoredEntry[];
  failed: { path: string; code: string; message: string }[];
  refused: { path: string; code: string; message: string }[];
  notices: Notice[];
}

type Outcome = 'stored' | 'failed' | 'refused';

interface Offered {
  header: FileHeader;
  offer: Offer;
  claimed?: ClaimedPartial | undefined;
}

/** Files over one chunk keep their partial content for a resume; smaller ones are simply sent again. */
function resumableIdentity(header: FileHeader): PartialIdentity | undefined {
  return header.kind === EntryKind.File && header.size > CHUNK_SIZE ? { path: header.path, size: header.size, mtimeNs: header.mtimeNs.toString() } : undefined;
}

/** A failure after which the verified content written so far is worth keeping for a resume. */
function keepsPartial(error: SftError): boolean {
  return !['HASH_MISMATCH', 'REFUSED', 'IO', 'INTERNAL'].includes(error.code);
}

export class Receiver {
  readonly #offered: Offered[] = [];
  readonly #commits: Promise<void>[] = [];
  readonly #summary: ReceiveSummary = { stored: [], failed: [], refused: [], notices: [] };
  readonly #counts: Record<Outcome, number> = { stored: 0, failed: 0, refused: 0 };
  #announced = 0;
  #reserved = 0;
  #incoming: IncomingFile | undefined;

  constructor(
    private readonly session: Session,
    private readonly store: FileStore,
    private readonly limits: ReceiverLimits,
    private readonly hooks: ReceiverHooks = {},
    /** Segments prefixed to every announced path (send --into). */
    private readonly into = '',
  ) {}

  /** How many entries were stored, failed and refused so far (kept with `records: false` too). */
  get counts(): Readonly<Record<Outcome, number>> {
    return this.#counts;
  }

  /** Receives until the sender's Done; resolves to what was stored, failed and refused. */
  async run(): Promise<ReceiveSummary> {
    try {
      for (;;) {
        const frame = await this.session.next('a file header, a start or done');
        if (frame.type === FrameType.FileHeader) await this.#announce(decodeFileHeader(frame.body));
        else if (frame.type === FrameType.Start) await this.#start(decodeStart(frame.body));
        else if (frame.type === FrameType.Done) return await this.#finish(decodeDone(frame.body).entries);
        else if (frame.type === FrameType.Notice) this.#notice(decodeNotice(frame.body));
        else throw unexpected(frame, 'a file header, a start or done');
      }
    } catch (error) {
      await this.#abort(asSftError(error));
      throw error;
    }
  }

  #notice(notice: Notice): void {
    const printed = { code: printable(notice.code, 32), path: printable(notice.path), message: printable(notice.message) };
    if (this.limits.records !== false) this.#summary.notices.push(printed);
    this.hooks.onNotice?.(printed);
  }

  #path(header: FileHeader): string {
    return this.into === '' ? header.path : `${this.into}/${header.path}`;
  }

  /** Step 1, header → offer: what this side holds of the entry, or why it refuses it. */
  async #announce(header: FileHeader): Promise<void> {
    if (header.index !== this.#announced) throw new IntegrityError('TAMPERED', `entry index ${header.index}, expected ${this.#announced}`);
    if (this.#announced >= this.limits.maxEntries) throw new SftError('REFUSED', `more than ${this.limits.maxEntries} entries in one session`);
    if (this.#offered.length >= MAX_OFFERED) throw new SftError('REFUSED', `more than ${MAX_OFFERED} entries announced ahead of their content`);
    this.#announced++;
    let entry: Offered;
    try {
      entry = await this.#offer(header);
    } catch (error) {
      const e = asSftError(error);
      if (e.code !== 'REFUSED') throw e;
      entry = { header, offer: { index: header.index, kind: OfferKind.Refused, code: e.code, message: e.message } };
      this.#record('refused', { path: header.path, code: e.code, message: e.message });
    }
    if (entry.offer.kind !== OfferKind.Refused) this.#offered.push(entry);
    if (!this.session.send(FrameType.Offer, encodeOffer(entry.offer))) await this.session.drained();
  }

  async #offer(header: FileHeader): Promise<Offered> {
    const index = header.index;
    const path = this.#path(header);
    this.store.segments(path);
    if (header.kind === EntryKind.Directory) return { header, offer: { index, kind: OfferKind.New } };
    await this.#checkRoom(header.size);
    const candidates = await this.store.candidates(path, header.size);
    const identity = resumableIdentity(header);
    const claimed = identity === undefined ? undefined : await this.store.partials.claim({ ...identity, path }, CHUNK_SIZE);
    this.#reserved += header.size;
    // A partial of this very file (same path, size and mtime) wins over a stored file of the same name and size:
    // the transfer was cut, and if the content turns out to be there already, placing it keeps the one copy.
    if (claimed !== undefined && claimed.offset > 0) {
      return { header, claimed, offer: { index, kind: OfferKind.Resume, offset: claimed.offset, sha256: claimed.hash.copy().digest() } };
    }
    if (claimed !== undefined) this.store.partials.release(claimed, false);
    if (candidates.length > 0) {
      return { header, offer: { index, kind: OfferKind.Have, candidates: candidates.map((c) => ({ ...c, storedPath: this.#relative(c.storedPath) })) } };
    }
    return { header, offer: { index, kind: OfferKind.New } };
  }

  /** Refuses a file over the size limit, the quota left, or the free space (checked for files of 1 MiB and more). */
  async #checkRoom(size: number): Promise<void> {
    if (size > this.limits.maxFileSize) throw new SftError('REFUSED', `file of ${size} bytes exceeds the limit of ${this.limits.maxFileSize}`);
    const { quotaLeft } = this.limits;
    if (quotaLeft !== undefined && this.#reserved + size > quotaLeft) throw new SftError('REFUSED', `file of ${size} bytes exceeds the account's quota (${Math.max(0, quotaLeft - this.#reserved)} bytes left)`);
    // A statfs per small file would cost more than it saves: a disk that fills up fails the write cleanly anyway.
    if (size >= FREE_SPACE_CHECK) {
      const free = await this.store.freeBytes();
      if (size > free) throw new SftError('REFUSED', `file of ${size} bytes exceeds the ${free} bytes free`);
    }
  }

  /** Step 2, start → content → trailer → commit (in the background) → receipt (in order). */
  async #start(start: Start): Promise<void> {
    const entry = this.#offered.shift();
    if (entry === undefined) throw new IntegrityError('MALFORMED', 'start without an announced entry');
    const { header } = entry;
    if (start.index !== header.index) throw new IntegrityError('TAMPERED', 'start for another entry');
    if (start.skip) return this.#skip(entry, start.candidate);
    if (header.kind === EntryKind.Directory) return this.#queue(header, this.#makeDirectory(header));
    const claimed = this.#resumeFrom(entry, start.offset);
    const { committed } = await this.#receiveContent(header, claimed);
    this.#queue(header, committed);
    if (this.#commits.length >= MAX_PENDING_COMMITS) await this.#commits.shift();
  }

  #skip(entry: Offered, candidate: number): void {
    if (entry.offer.kind !== OfferKind.Have) throw new IntegrityError('MALFORMED', 'skip without an offer to skip');
    const chosen = entry.offer.candidates[candidate];
    if (chosen === undefined) throw new IntegrityError('MALFORMED', 'skip names no offered candidate');
    const { header } = entry;
    this.#queue(
      header,
      Promise.resolve({ path: header.path, storedPath: chosen.storedPath, kind: 'file', size: header.size, sha256: chosen.sha256.toString('hex'), resumedFrom: header.size }),
    );
  }

  #resumeFrom(entry: Offered, offset: number): ClaimedPartial | undefined {
    const { claimed } = entry;
    entry.claimed = undefined;
    if (claimed !== undefined && offset === claimed.offset) return claimed;
    if (offset !== 0) throw new IntegrityError('MALFORMED', 'start offset does not match the offer');
    if (claimed !== undefined) this.store.partials.release(claimed, false);
    return undefined;
  }

  async #makeDirectory(header: FileHeader): Promise<StoredEntry> {
    const storedPath = await this.store.mkdir(this.#path(header), header.mode);
    return { path: header.path, storedPath: this.#relative(storedPath), kind: 'directory', size: 0, sha256: '', resumedFrom: 0 };
  }

  /** Opens, hashes and writes the content, then checks size and SHA-256 against the trailer. */
  async #receiveContent(header: FileHeader, claimed: ClaimedPartial | undefined): Promise<{ committed: Promise<StoredEntry> }> {
    const resumedFrom = claimed?.offset ?? 0;
    const path = this.#path(header);
    const identity = resumableIdentity(header);
    const worker = header.size - resumedFrom >= WORKER_THRESHOLD ? FileWorker.shared() : undefined;
    const incoming = this.store.begin(path, header.mode, { ...(identity === undefined ? {} : { resumable: { ...identity, path } }), ...(claimed === undefined ? {} : { claimed }), ...(worker === undefined ? {} : { worker }) });
    this.#incoming = incoming;
    const opener = new ContentOpener(this.session.keys.suite, this.session.fileKey(this.session.incoming, header.index), resumedFrom / CHUNK_SIZE);
    let received = resumedFrom;
    for (let last = false; !last; ) {
      const chunk = await this.session.next('a chunk');
      if (chunk.type !== FrameType.Chunk && chunk.type !== FrameType.FinalChunk) throw unexpected(chunk, 'a chunk');
      last = chunk.type === FrameType.FinalChunk;
      const plaintext = opener.open(chunk.pieces, last);
      received += byteLength(plaintext);
      if (received > header.size) throw new IntegrityError('TAMPERED', `more data than the announced ${header.size} bytes`);
      await incoming.write(plaintext);
      this.hooks.onProgress?.({ path: header.path, done: received, size: header.size });
    }
    if (received !== header.size) throw new IntegrityError('TRUNCATED', `received ${received} of ${header.size} bytes`);
    const trailerFrame = await this.session.next('a file trailer');
    if (trailerFrame.type !== FrameType.FileTrailer) throw unexpected(trailerFrame, 'a file trailer');
    const trailer = decodeFileTrailer(trailerFrame.body);
    const sha256 = await incoming.digest();
    if (trailer.index !== header.index) throw new IntegrityError('TAMPERED', 'trailer for another entry');
    if (!equalConstantTime(sha256, trailer.sha256)) throw new IntegrityError('HASH_MISMATCH', `sha-256 mismatch for ${header.path}`);
    this.#incoming = undefined;
    // fsync and placement run while the next file streams in; receipts still go out in order.
    const committed = incoming.commit(header.mtimeNs, sha256).then(
      (storedPath): StoredEntry => ({ path: header.path, storedPath: this.#relative(storedPath), kind: 'file', size: header.size, sha256: sha256.toString('hex'), resumedFrom }),
    );
    return { committed };
  }

  /** A stored path relative to where the sender's paths start (under --into). */
  #relative(storedPath: string): string {
    return this.into === '' ? storedPath : storedPath.slice(this.into.length + 1);
  }

  /**
   * Queues the entry's receipt behind the previous one. A file that cannot be placed (a name the file system
   * refuses, a read-only or full directory) gets a failed receipt at once; the session goes on with the rest.
   */
  #queue(header: FileHeader, stored: Promise<StoredEntry>): void {
    stored.catch(() => undefined);
    const previous = this.#commits.at(-1) ?? Promise.resolve();
    const receipt = previous.then(async () => {
      let message: Receipt;
      try {
        const entry = await stored;
        this.#record('stored', entry);
        this.hooks.onStored?.(entry);
        message = { index: header.index, stored: true, size: entry.size, sha256: entry.kind === 'file' ? Buffer.from(entry.sha256, 'hex') : Buffer.alloc(32), storedPath: entry.storedPath };
      } catch (error) {
        const e = placementError(error, header.path);
        this.#record('failed', { path: header.path, code: e.code, message: e.message });
        this.hooks.onFailed?.(header.path, e);
        message = { index: header.index, stored: false, code: e.code, message: e.message };
      }
      if (!this.session.send(FrameType.Receipt, encodeReceipt(message))) await this.session.drained();
    });
    receipt.catch(() => undefined);
    this.#commits.push(receipt);
  }

  #record<K extends Outcome>(outcome: K, item: ReceiveSummary[K][number]): void {
    this.#counts[outcome]++;
    if (this.limits.records !== false) (this.#summary[outcome] as ReceiveSummary[K][number][]).push(item);
  }

  async #finish(entries: number): Promise<ReceiveSummary> {
    await Promise.all(this.#commits);
    if (entries !== this.#announced || this.#offered.length > 0) throw new IntegrityError('TAMPERED', `sender reports ${entries} entries, ${this.#announced} were announced`);
    const { stored, failed, refused } = this.#counts;
    if (!this.session.send(FrameType.Done, encodeDone({ entries: stored, failed, refused }))) await this.session.drained();
    return this.#summary;
  }

  /** The session failed: keep what is worth resuming, drop the rest, let running commits settle. */
  async #abort(error: SftError): Promise<void> {
    const keep = keepsPartial(error);
    await this.#incoming?.abort(keep);
    for (const entry of this.#offered) if (entry.claimed !== undefined) this.store.partials.release(entry.claimed, keep);
    await Promise.allSettled(this.#commits);
  }
}

/** Why a verified file could not be placed, in words. */
function placementError(error: unknown, path: string): SftError {
  if (error instanceof SftError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENAMETOOLONG: 'the name is too long for the file system',
    EROFS: 'the directory is on a read-only file system',
    EACCES: 'permission denied',
    EPERM: 'the directory does not allow it (immutable or append-only?)',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EISDIR: 'a directory of that name is in the way',
    ENOTDIR: 'a file is in the way of its directory',
  };
  return new SftError('IO', `cannot store ${path}: ${why[code ?? ''] ?? code ?? String(error)}`);
}

function unexpected(frame: Frame, wanted: string): IntegrityError {
  return new IntegrityError('MALFORMED', `unexpected frame type 0x${frame.type.toString(16)} where ${wanted} was due`);
}
