/**
 * Where the server stores files. Content goes to a temporary file in the hidden PARTIAL_DIR, and only a complete,
 * verified file is fsynced and linked (or, with overwrite, renamed) to its place: the inbox never shows a partial
 * file, a name is never replaced silently, and nothing is written outside the root or through a symlink.
 *
 * Resumable files (docs/PROTOCOL.md §5.1) keep their partial content when a session breaks off:
 *   t-<random>.part (+ t-<random>.json for resumable files)   being received now
 *   r-<id>.part + r-<id>.json                                   parked, waiting for the same file to come back
 * where <id> names (path, size, mtime). A session claims a parked partial by renaming it to its own t- name, so two
 * sessions never share one. At start-up, t- files left by a killed server are parked, and parked files older than
 * the configured age are removed.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { close, createWriteStream, fsync, open, readFile, readdir, writeFile, type WriteStream } from 'node:fs';
import { linkSync, lstatSync, mkdirSync, renameSync, statSync, truncateSync, unlinkSync, utimesSync } from 'node:fs';
import { realpath, statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { dirname, extname, join } from 'node:path';
import { SftError } from '../errors.js';
import { hashFilePrefix } from '../crypto/hash.js';
import { PARTIAL_DIR, safeSegments } from './paths.js';

const MAX_UNIQUE_ATTEMPTS = 1000;

// Metadata calls (lstat, link, unlink, rename, utimes, mkdir, stat, truncate) run synchronously: on a local file
// system each takes ~5 µs, while a thread-pool round trip costs ~50 µs of latency, and a small file needs a dozen of
// them in sequence. Calls that can take long (fsync, reads, writes, open through streams) stay asynchronous.
const fs = {
  close: promisify(close),
  fsync: promisify(fsync),
  open: promisify(open),
  readFile: promisify(readFile),
  readdir: promisify(readdir),
  writeFile: promisify(writeFile),
  link: async (existing: string, path: string) => linkSync(existing, path),
  lstat: async (path: string) => lstatSync(path),
  mkdir: async (path: string, options: { recursive?: boolean; mode?: number }) => mkdirSync(path, options),
  rename: async (from: string, to: string) => renameSync(from, to),
  stat: async (path: string) => statSync(path),
  truncate: async (path: string, length: number) => truncateSync(path, length),
  unlink: async (path: string) => unlinkSync(path),
  utimes: async (path: string, atime: Date, mtime: Date) => utimesSync(path, atime, mtime),
};

/** What a resumable partial is for; stored beside it as JSON. */
export interface PartialIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

/** A stable name for (path, size, mtime): a file that comes back unchanged finds its partial. */
export function partialId(identity: PartialIdentity): string {
  return createHash('sha256').update(JSON.stringify([identity.path, identity.size, identity.mtimeMs])).digest('hex').slice(0, 32);
}

/** A parked partial claimed by a session: its content so far and the SHA-256 state over it. */
export interface ClaimedPartial {
  temp: string;
  offset: number;
  hash: Hash;
}

async function linkedElsewhere(path: string): Promise<boolean> {
  const info = await fs.stat(path).catch(() => undefined);
  return info !== undefined && info.nlink > 1;
}

/** True when `path` is a regular file whose SHA-256 is `sha256`. */
async function sameContent(path: string, sha256: Buffer): Promise<boolean> {
  const info = await fs.lstat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) return false;
  return (await hashFilePrefix(path, info.size)).digest().equals(sha256);
}

/** unlink that ignores a file already gone. */
async function removeFile(path: string): Promise<void> {
  await fs.unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

export class Inbox {
  #root = '';
  readonly #directorySync = new DirectorySync();

  constructor(
    private readonly dir: string,
    private readonly overwrite: boolean,
  ) {}

  /** The inbox's real path (after init). */
  get root(): string {
    return this.#root;
  }

  /**
   * Creates the inbox. With `recover`, also parks what a killed server left (see tidy): only one process may do
   * that, before any serves from this inbox, or it would take another's files in progress.
   */
  async init(partialMaxAgeMs: number, recover: boolean): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    this.#root = await realpath(this.dir);
    await fs.mkdir(join(this.#root, PARTIAL_DIR), { recursive: true, mode: 0o700 });
    await this.tidy(partialMaxAgeMs, recover);
  }

  #partial(name: string): string {
    return join(this.#root, PARTIAL_DIR, name);
  }

  /**
   * Removes partials older than `maxAgeMs`; with `recover`, first parks resumable t- files left by a killed server
   * and removes the other t- files (nothing can resume those).
   */
  async tidy(maxAgeMs: number, recover = false): Promise<void> {
    const names = await fs.readdir(join(this.#root, PARTIAL_DIR)).catch(() => [] as string[]);
    const now = Date.now();
    for (const name of names) {
      const path = this.#partial(name);
      if (recover && name.startsWith('t-') && name.endsWith('.part')) {
        const meta = path.replace(/\.part$/, '.json');
        const identity = await fs.readFile(meta, 'utf8').then((t) => JSON.parse(t) as PartialIdentity, () => undefined);
        // A second link means the server was killed after placing the file and before removing its temporary
        // name: the file is delivered, and its inode must not be resumed into (that would change the stored file).
        if (identity === undefined || (await linkedElsewhere(path))) {
          await removeFile(path);
          await removeFile(meta);
        } else {
          const id = partialId(identity);
          await fs.rename(meta, this.#partial(`r-${id}.json`)).catch(() => undefined);
          await fs.rename(path, this.#partial(`r-${id}.part`)).catch(() => undefined);
        }
        continue;
      }
      if (!name.startsWith('r-')) continue;
      const info = await fs.stat(path).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs > maxAgeMs) await removeFile(path);
    }
    // A parked .part without its .json (or the reverse) cannot be resumed, nor can a t- name left after recovery.
    const left = new Set(await fs.readdir(join(this.#root, PARTIAL_DIR)).catch(() => [] as string[]));
    for (const name of left) {
      if (recover && name.startsWith('t-')) await removeFile(this.#partial(name));
      if (!name.startsWith('r-')) continue;
      const twin = name.endsWith('.part') ? name.replace(/\.part$/, '.json') : name.replace(/\.json$/, '.part');
      if (!left.has(twin)) await removeFile(this.#partial(name));
    }
  }

  /**
   * Claims the parked partial of `identity`, if any: truncates it to whole chunks (at most the start of the last
   * chunk, which must come with its final flag) and hashes what it holds.
   */
  async claim(identity: PartialIdentity, chunkSize: number): Promise<ClaimedPartial | undefined> {
    const id = partialId(identity);
    const name = `t-${randomBytes(12).toString('hex')}`;
    const temp = this.#partial(`${name}.part`);
    try {
      await fs.rename(this.#partial(`r-${id}.part`), temp);
    } catch {
      return undefined;
    }
    await fs.rename(this.#partial(`r-${id}.json`), this.#partial(`${name}.json`)).catch(() => fs.writeFile(this.#partial(`${name}.json`), JSON.stringify(identity)));
    const info = await fs.stat(temp);
    if (info.nlink > 1) {
      // Also a placed file (see tidy): drop this name, never write to that inode.
      await this.release({ temp, offset: 0, hash: createHash('sha256') }, false);
      return undefined;
    }
    const held = info.size;
    const lastChunkStart = Math.max(0, Math.ceil(identity.size / chunkSize) - 1) * chunkSize;
    const offset = Math.min(Math.floor(held / chunkSize) * chunkSize, lastChunkStart);
    await fs.truncate(temp, offset);
    return { temp, offset, hash: await hashFilePrefix(temp, offset) };
  }

  /** Gives a claimed partial back: parked again with `keep`, else deleted. */
  async release(claimed: ClaimedPartial, keep: boolean): Promise<void> {
    const meta = claimed.temp.replace(/\.part$/, '.json');
    if (keep) {
      const identity = await fs.readFile(meta, 'utf8').then((t) => JSON.parse(t) as PartialIdentity, () => undefined);
      if (identity !== undefined) {
        const parked = this.#partial(`r-${partialId(identity)}`);
        await fs.rename(meta, `${parked}.json`).catch(() => undefined);
        await fs.rename(claimed.temp, `${parked}.part`).catch(() => undefined);
        return;
      }
    }
    await removeFile(claimed.temp);
    await removeFile(meta);
  }

  /**
   * A regular file already stored at `relativePath` with `size` bytes, with its SHA-256.
   * @throws SftError REFUSED for an unsafe name or one through a symlink.
   */
  async existing(relativePath: string, size: number): Promise<{ sha256: Buffer } | undefined> {
    const segments = safeSegments(relativePath);
    await checkParents(this.#root, segments, false);
    const path = join(this.#root, ...segments);
    const info = await fs.lstat(path).catch(() => undefined);
    if (info === undefined || !info.isFile() || info.size !== size) return undefined;
    return { sha256: (await hashFilePrefix(path, size)).digest() };
  }

  /** Bytes available to the server in the inbox's file system. */
  async freeBytes(): Promise<number> {
    const stats = await statfs(this.#root);
    return stats.bavail * stats.bsize;
  }

  /**
   * Starts receiving `relativePath`, to be stored with permission bits `mode & 0o755 | 0o600`. With `resumable`,
   * the partial content is kept (parked) if the session breaks off; with `claimed`, content continues a claimed
   * partial from its offset.
   * @throws SftError REFUSED for an unsafe name. Call existing() first: it checks the parent directories.
   */
  async begin(relativePath: string, mode: number, resumable?: PartialIdentity, claimed?: ClaimedPartial): Promise<IncomingFile> {
    // The parents were checked by existing(), which the server calls on every header; commit() checks them again.
    const segments = safeSegments(relativePath);
    const fileMode = (mode & 0o755) | 0o600;
    if (claimed !== undefined) {
      const stream = createWriteStream(claimed.temp, { flags: 'r+', start: claimed.offset, flush: true, highWaterMark: 1024 * 1024 });
      await once(stream, 'open');
      return new IncomingFile(this.#root, segments, claimed.temp, stream, this.overwrite, this.#directorySync, resumable);
    }
    const temp = this.#partial(`t-${randomBytes(12).toString('hex')}.part`);
    let stream = await openTemp(temp, fileMode);
    if (stream === undefined) {
      // An operator emptied the inbox while the server runs: make the partial folder again.
      await fs.mkdir(join(this.#root, PARTIAL_DIR), { recursive: true, mode: 0o700 });
      stream = await openTemp(temp, fileMode);
    }
    if (stream === undefined) throw new SftError('IO', 'cannot create a temporary file in the inbox');
    if (resumable !== undefined) await fs.writeFile(temp.replace(/\.part$/, '.json'), JSON.stringify(resumable));
    return new IncomingFile(this.#root, segments, temp, stream, this.overwrite, this.#directorySync, resumable);
  }
}

/** Opens a new temporary file; undefined when its folder is missing. */
async function openTemp(path: string, mode: number): Promise<WriteStream | undefined> {
  const stream = createWriteStream(path, { flags: 'wx', mode, flush: true, highWaterMark: 1024 * 1024 });
  try {
    await once(stream, 'open');
    return stream;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export class IncomingFile {
  #settled = false;

  constructor(
    private readonly root: string,
    private readonly segments: string[],
    private readonly temp: string,
    private readonly stream: WriteStream,
    private readonly overwrite: boolean,
    private readonly directorySync: DirectorySync,
    private readonly resumable?: PartialIdentity,
  ) {}

  /** Appends verified plaintext; resolves when the stream can take more. */
  async write(data: Buffer): Promise<void> {
    if (!this.stream.write(data)) await once(this.stream, 'drain');
  }

  get #meta(): string {
    return this.temp.replace(/\.part$/, '.json');
  }

  /**
   * Ends an unfinished file. With `keep` and a resumable file, what was written (all of it authenticated) is
   * flushed and parked for a later session; otherwise it is deleted. Safe to call more than once.
   */
  async abort(keep = false): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    if (keep && this.resumable !== undefined) {
      this.stream.end();
      if (!this.stream.closed) await once(this.stream, 'close').catch(() => undefined);
      const id = partialId(this.resumable);
      const parked = join(dirname(this.temp), `r-${id}`);
      await fs.rename(this.#meta, `${parked}.json`).catch(() => undefined);
      await fs.rename(this.temp, `${parked}.part`).catch(() => undefined);
      return;
    }
    this.stream.destroy();
    if (!this.stream.closed) await once(this.stream, 'close').catch(() => undefined);
    await removeFile(this.temp);
    await removeFile(this.#meta);
  }

  /**
   * fsyncs the complete file, sets its mtime, places it and fsyncs its directory. Returns the stored path relative to the root
   * ("name (1).ext" when the name was taken and overwrite is off).
   */
  async commit(mtimeMs: number, sha256: Buffer): Promise<string> {
    this.#settled = true;
    try {
      this.stream.end();
      await once(this.stream, 'close');
      await fs.utimes(this.temp, new Date(), new Date(mtimeMs));
      const parent = await this.#parentDirectory();
      const name = this.segments[this.segments.length - 1] as string;
      const stored = await this.#place(parent, name, sha256);
      await this.directorySync.sync(parent);
      return [...this.segments.slice(0, -1), stored].join('/');
    } finally {
      // The identity first: a .part left alone by a crash here is removed at start-up, never resumed.
      if (this.resumable !== undefined) await removeFile(this.#meta);
      await removeFile(this.temp);
    }
  }

  #parentDirectory(): Promise<string> {
    return checkParents(this.root, this.segments, true);
  }

  async #place(parent: string, name: string, sha256: Buffer): Promise<string> {
    if (this.overwrite) {
      const target = join(parent, name);
      const existing = await fs.lstat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw new SftError('REFUSED', `refused file name: ${this.segments.join('/')} is a directory on the server`);
      await fs.rename(this.temp, target);
      return name;
    }
    const ext = extname(name);
    const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
    for (let n = 0; n < MAX_UNIQUE_ATTEMPTS; n++) {
      const candidate = n === 0 ? name : `${stem} (${n})${stem === name ? '' : ext}`;
      try {
        await fs.link(this.temp, join(parent, candidate));
        return candidate;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // The same content under the same name is already there (a file sent again): keep one copy.
        if (n === 0 && (await sameContent(join(parent, name), sha256))) return name;
      }
    }
    throw new SftError('REFUSED', `no free name for ${this.segments.join('/')}`);
  }
}

/**
 * Walks the parent directories of `segments` under `root`, refusing any that is a symlink or not a directory;
 * with `create`, makes the missing ones (early checks pass `false` so a refused file leaves no directories).
 */
async function checkParents(root: string, segments: string[], create: boolean): Promise<string> {
  let dir = root;
  for (const segment of segments.slice(0, -1)) {
    dir = join(dir, segment);
    let info = await fs.lstat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info === undefined) {
      if (!create) break;
      await fs.mkdir(dir, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      info = await fs.lstat(dir);
    }
    if (!info.isDirectory()) throw new SftError('REFUSED', `refused file name: ${segments.join('/')} passes through a non-directory or symlink`);
  }
  return dir;
}

/**
 * fsyncs directories after files are linked into them, one fsync per directory for every file linked before it
 * started: many small files committing at once share a directory fsync instead of queueing one each.
 */
class DirectorySync {
  readonly #queued = new Map<string, Promise<void>>();
  readonly #tail = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    const queued = this.#queued.get(dir);
    if (queued !== undefined) return queued;
    const job = (this.#tail.get(dir) ?? Promise.resolve()).then(async () => {
      this.#queued.delete(dir);
      const fd = await fs.open(dir, 'r');
      await fs.fsync(fd).finally(() => fs.close(fd));
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
