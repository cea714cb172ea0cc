/**
 * A receiving root: the server's inbox or an account's home, or the client's download directory. Content goes to
 * a temporary file in the hidden partial folder, and only a complete, verified file is fsynced and linked (or, with
 * overwrite, renamed) to its place: the root never shows a partial file, a name is never replaced silently, and
 * nothing is written outside the root or through a symlink.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, futimesSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { close, fsync, open } from 'node:fs';
import { access, constants, realpath, statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { SftError } from '../errors.js';
import { errnoCode, fileError } from '../util/fs-errors.js';
import { hashFilePrefix } from '../crypto/hash.js';
import { MAX_CANDIDATES, type Candidate } from '../protocol/messages.js';
import { alternativeName, safeSegments } from './paths.js';
import type { FileWorker } from './file-worker.js';
import { Partials, type ClaimedPartial, type PartialIdentity } from './partials.js';

const fsyncAsync = promisify(fsync);
const openAsync = promisify(open);
const closeAsync = promisify(close);
/** Alternative names tried for a taken name before the file is refused. */
const MAX_UNIQUE_ATTEMPTS = 1000;

export class FileStore {
  #root = '';
  #partials: Partials | undefined;
  readonly #directorySync = new DirectorySync();

  constructor(
    private readonly dir: string,
    private readonly overwrite = false,
  ) {}

  /** The root's real path (after init). */
  get root(): string {
    return this.#root;
  }

  get partials(): Partials {
    if (this.#partials === undefined) throw new SftError('INTERNAL', 'file store used before init()');
    return this.#partials;
  }

  /**
   * Creates the root if needed and tidies its partial folder. With `recover`, also parks what a killed process
   * left (see Partials.tidy): only one process may do that, before any session uses this root.
   */
  async init(partialMaxAgeMs: number, recover: boolean): Promise<void> {
    try {
      makeDirectories(this.dir);
      this.#root = await realpath(this.dir);
      await access(this.#root, constants.W_OK | constants.X_OK);
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') throw new SftError('IO', `${this.dir} exists and is not a directory`, { cause: error });
      throw fileError(error, 'write into', this.dir);
    }
    this.#partials = new Partials(this.#root);
    this.#partials.tidy(partialMaxAgeMs, recover);
  }

  /** After the last session on this root: removes the partial folder if it holds nothing to resume. */
  release(): void {
    this.#partials?.removeIfEmpty();
  }

  /** The segments of a peer's path, checked against the name rules and PATH_MAX. @throws SftError REFUSED. */
  segments(relativePath: string): string[] {
    return safeSegments(relativePath, this.#root);
  }

  /**
   * Regular files of `size` bytes already stored under the name or its alternatives (`x.bin`, `x (1).bin`, …),
   * with their SHA-256: a file sent again is recognised wherever an earlier run stored it.
   * @throws SftError REFUSED for an unsafe name or one through a symlink.
   */
  async candidates(relativePath: string, size: number): Promise<Candidate[]> {
    const segments = this.segments(relativePath);
    const parent = checkParents(this.#root, segments, false);
    if (parent === undefined) return [];
    const name = segments[segments.length - 1] as string;
    const found: Candidate[] = [];
    for (let n = 0; n < MAX_CANDIDATES; n++) {
      const candidate = n === 0 ? name : alternativeName(name, n);
      const info = lstatSync(join(parent, candidate), { throwIfNoEntry: false });
      if (info === undefined) break;
      if (info.isFile() && info.size === size) {
        const sha256 = (await hashFilePrefix(join(parent, candidate), size)).digest();
        found.push({ sha256, storedPath: [...segments.slice(0, -1), candidate].join('/') });
      }
    }
    return found;
  }

  /** Bytes available in the root's file system. */
  async freeBytes(): Promise<number> {
    const stats = await statfs(this.#root);
    return stats.bavail * stats.bsize;
  }

  /**
   * Starts receiving `relativePath`, to be stored with permission bits `mode & 0o755 | 0o600`. With `resumable`,
   * the partial content is parked if the session breaks off; with `claimed`, content continues a claimed partial.
   * With `worker`, the file's hashing and writing happen on that worker thread.
   */
  begin(relativePath: string, mode: number, options: { resumable?: PartialIdentity; claimed?: ClaimedPartial; worker?: FileWorker } = {}): IncomingFile {
    const { resumable, claimed, worker } = options;
    const segments = this.segments(relativePath);
    const temp = claimed?.temp ?? this.partials.newTemp(resumable);
    const fd = claimed === undefined ? this.partials.create(temp, (mode & 0o755) | 0o600) : openSync(temp, 'r+');
    const position = claimed?.offset ?? 0;
    const writer: Writer = worker !== undefined ? worker.sink(fd, position) : new DirectWriter(fd, position, claimed?.hash);
    return new IncomingFile({ root: this.#root, segments, temp, fd, writer, overwrite: this.overwrite, directorySync: this.#directorySync, partials: this.partials, resumable: resumable !== undefined });
  }

  /** Creates a directory entry (and its missing parents). @throws SftError REFUSED when a non-directory is in the way. */
  async mkdir(relativePath: string, mode: number): Promise<string> {
    const segments = this.segments(relativePath);
    const parent = checkParents(this.#root, segments, true) as string;
    const path = join(parent, segments[segments.length - 1] as string);
    try {
      mkdirSync(path, { mode: (mode & 0o755) | 0o700 });
      await this.#directorySync.sync(parent);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (!lstatSync(path).isDirectory()) throw new SftError('REFUSED', `refused directory ${relativePath}: a file of that name is in the way`);
    }
    return segments.join('/');
  }
}

/** Where a received file's bytes go: straight to the file from this thread, or through the file worker. */
interface Writer {
  /** Takes verified plaintext, in pieces. */
  write(pieces: readonly Buffer[]): Promise<void>;
  /** The SHA-256 of the whole file, once all of it is written. */
  finish(): Promise<Buffer>;
  /** Stops; resolves once nothing more will be written (what was handed over is written). */
  abort(): Promise<void>;
}

/**
 * Small files: synchronous writes from this thread (~10 µs each on a local disk, against ~50 µs of thread-pool
 * latency for an asynchronous one) and an fsync through the thread pool at the end.
 */
class DirectWriter implements Writer {
  readonly #hash: Hash;

  constructor(
    private readonly fd: number,
    private position: number,
    prefix?: Hash,
  ) {
    this.#hash = prefix ?? createHash('sha256');
  }

  async write(pieces: readonly Buffer[]): Promise<void> {
    for (const data of pieces) {
      this.#hash.update(data);
      for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at, data.length - at, this.position + at);
      this.position += data.length;
    }
  }

  async finish(): Promise<Buffer> {
    return this.#hash.digest();
  }

  async abort(): Promise<void> {}
}

interface IncomingParts {
  root: string;
  segments: string[];
  temp: string;
  fd: number;
  writer: Writer;
  overwrite: boolean;
  directorySync: DirectorySync;
  partials: Partials;
  resumable: boolean;
}

/** One file being received. */
export class IncomingFile {
  #settled = false;
  #closed = false;

  constructor(private readonly parts: IncomingParts) {}

  /** Appends verified plaintext, given in pieces; resolves when more can be taken. */
  write(pieces: readonly Buffer[]): Promise<void> {
    return this.parts.writer.write(pieces);
  }

  /** The SHA-256 of the whole file (the resumed prefix included), once all of it is written. */
  digest(): Promise<Buffer> {
    return this.parts.writer.finish();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.parts.fd);
  }

  /**
   * Ends an unfinished file. With `keep` and a resumable file, what was written (all of it authenticated) is
   * parked for a later session; otherwise it is deleted. Safe to call more than once.
   */
  async abort(keep: boolean): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    const { partials, temp, writer } = this.parts;
    // Every verified byte handed to the writer is written before the partial is kept and its descriptor closed.
    await writer.abort();
    this.#close();
    if (keep && this.parts.resumable) partials.park(temp);
    else partials.drop(temp, this.parts.resumable);
  }

  /**
   * Sets the complete file's mtime and fsyncs it (see digest(); the time is then as durable as the content), places
   * it and fsyncs its directory. Returns the stored path relative to the root ("name (1).ext" when the name was taken
   * by other content and overwrite is off).
   */
  async commit(mtimeNs: bigint, sha256: Buffer): Promise<string> {
    this.#settled = true;
    const { partials, temp, segments } = this.parts;
    try {
      setMtime(this.parts.fd, mtimeNs);
      await fsyncAsync(this.parts.fd);
      this.#close();
      const parent = checkParents(this.parts.root, segments, true) as string;
      const stored = await this.#place(parent, segments[segments.length - 1] as string, sha256);
      await this.parts.directorySync.sync(parent);
      return [...segments.slice(0, -1), stored].join('/');
    } finally {
      this.#close();
      partials.drop(temp, this.parts.resumable);
    }
  }

  async #place(parent: string, name: string, sha256: Buffer): Promise<string> {
    const { temp, overwrite, segments } = this.parts;
    if (overwrite) {
      if (lstatSync(join(parent, name), { throwIfNoEntry: false })?.isDirectory()) throw new SftError('REFUSED', `refused file name: ${segments.join('/')} is a directory here`);
      renameSync(temp, join(parent, name));
      return name;
    }
    for (let n = 0; n < MAX_UNIQUE_ATTEMPTS; n++) {
      const candidate = n === 0 ? name : alternativeName(name, n);
      try {
        linkSync(temp, join(parent, candidate));
        return candidate;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // The same content is already there under this name (a file sent again): keep the one copy.
        if (await sameContent(join(parent, candidate), sha256)) return candidate;
      }
    }
    throw new SftError('REFUSED', `no free name for ${segments.join('/')}`);
  }
}

/**
 * Sets the modification time at microsecond precision. Node takes the time as a double of seconds, which holds a
 * 2023 time only to ~0.24 µs; Node 20 truncates it to whole microseconds, Node 24 keeps its nanoseconds. Half a
 * microsecond is added first so that both land in the right microsecond: without it 1700000000.001 s would be
 * stored as …000.999 ms.
 */
export function setMtime(fd: number, mtimeNs: bigint): void {
  const micros = mtimeNs / 1000n;
  const seconds = Number(micros / 1_000_000n) + (Number(micros % 1_000_000n) + 0.5) / 1e6;
  futimesSync(fd, new Date(), seconds);
}

/** True when `path` is a regular file whose SHA-256 is `sha256`. */
async function sameContent(path: string, sha256: Buffer): Promise<boolean> {
  const info = lstatSync(path, { throwIfNoEntry: false });
  if (info === undefined || !info.isFile()) return false;
  return (await hashFilePrefix(path, info.size)).digest().equals(sha256);
}

/**
 * `mkdir -p` on the path as given (so `a/../b` and `link/../b` mean what the kernel makes of them): on ENOENT the
 * parent is made, then the directory is tried once more and a second ENOENT is the answer. Node's
 * `mkdirSync(path, { recursive: true })` never returns where mkdir fails with ENOENT under a parent that exists
 * (procfs: `/proc/inbox`): it creates the parent again, gets EEXIST, and retries the child, forever.
 */
function makeDirectories(path: string): void {
  try {
    makeDirectory(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT' || dirname(path) === path) throw error;
    makeDirectories(dirname(path));
    makeDirectory(path);
  }
}

/** mkdir, content with a directory already there; anything else there is EEXIST. */
function makeDirectory(path: string): void {
  try {
    mkdirSync(path);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST' || !statSync(path).isDirectory()) throw error;
  }
}

/**
 * Walks the parent directories of `segments` under `root`, refusing any that is a symlink or not a directory;
 * with `create`, makes the missing ones. Without, returns undefined at the first missing one.
 */
function checkParents(root: string, segments: string[], create: boolean): string | undefined {
  let dir = root;
  for (const segment of segments.slice(0, -1)) {
    dir = join(dir, segment);
    let info = lstatSync(dir, { throwIfNoEntry: false });
    if (info === undefined) {
      if (!create) return undefined;
      try {
        mkdirSync(dir, { mode: 0o755 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      info = lstatSync(dir);
    }
    if (!info.isDirectory()) throw new SftError('REFUSED', `refused file name: ${segments.join('/')} passes through a non-directory or symlink`);
  }
  return dir;
}

/**
 * fsyncs directories after files are linked into them, one fsync per directory for every file linked before it
 * started: many small files committing at once share a directory fsync instead of queueing one each.
 */
export class DirectorySync {
  readonly #queued = new Map<string, Promise<void>>();
  readonly #tail = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    const queued = this.#queued.get(dir);
    if (queued !== undefined) return queued;
    const job = (this.#tail.get(dir) ?? Promise.resolve()).then(async () => {
      this.#queued.delete(dir);
      const fd = await openAsync(dir, 'r');
      await fsyncAsync(fd).finally(() => closeAsync(fd));
    });
    const tail = job.catch(() => undefined);
    this.#queued.set(dir, job);
    this.#tail.set(dir, tail);
    void tail.then(() => {
      if (this.#tail.get(dir) === tail) this.#tail.delete(dir);
    });
    return job;
  }
}
