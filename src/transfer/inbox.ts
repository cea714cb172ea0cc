/**
 * Where the server stores files. Content goes to a temporary file in the hidden PARTIAL_DIR, and only a complete,
 * verified file is fsynced and linked (or, with overwrite, renamed) to its place: the inbox never shows a partial
 * file, a name is never replaced silently, and nothing is written outside the root or through a symlink.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { close, fsync, link, lstat, mkdir, open, rename, unlink, utimes } from 'node:fs';
import { realpath, statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { extname, join } from 'node:path';
import { SftError } from '../errors.js';
import { PARTIAL_DIR, safeSegments } from './paths.js';

const MAX_UNIQUE_ATTEMPTS = 1000;

// The callback forms: per small file the inbox makes a dozen calls, and fs/promises costs several times more
// main-thread time per call (FileHandle objects, promise plumbing).
const fs = {
  close: promisify(close),
  fsync: promisify(fsync),
  link: promisify(link),
  lstat: promisify(lstat),
  mkdir: promisify(mkdir),
  open: promisify(open),
  rename: promisify(rename),
  unlink: promisify(unlink),
  utimes: promisify(utimes),
};

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

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    this.#root = await realpath(this.dir);
    await fs.mkdir(join(this.#root, PARTIAL_DIR), { recursive: true, mode: 0o700 });
  }

  /** Bytes available to the server in the inbox's file system. */
  async freeBytes(): Promise<number> {
    const stats = await statfs(this.#root);
    return stats.bavail * stats.bsize;
  }

  /**
   * Starts receiving `relativePath`, to be stored with permission bits `mode & 0o755 | 0o600`.
   * @throws SftError REFUSED for an unsafe name.
   */
  async begin(relativePath: string, mode: number): Promise<IncomingFile> {
    const segments = safeSegments(relativePath);
    await checkParents(this.#root, segments, false);
    const temp = join(this.#root, PARTIAL_DIR, `${randomBytes(12).toString('hex')}.part`);
    const fileMode = (mode & 0o755) | 0o600;
    let stream = await openTemp(temp, fileMode);
    if (stream === undefined) {
      // An operator emptied the inbox while the server runs: make the partial folder again.
      await fs.mkdir(join(this.#root, PARTIAL_DIR), { recursive: true, mode: 0o700 });
      stream = await openTemp(temp, fileMode);
    }
    if (stream === undefined) throw new SftError('IO', 'cannot create a temporary file in the inbox');
    return new IncomingFile(this.#root, segments, temp, stream, this.overwrite, this.#directorySync);
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
  ) {}

  /** Appends verified plaintext; resolves when the stream can take more. */
  async write(data: Buffer): Promise<void> {
    if (!this.stream.write(data)) await once(this.stream, 'drain');
  }

  /** Drops the partial file. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    this.stream.destroy();
    if (!this.stream.closed) await once(this.stream, 'close').catch(() => undefined);
    await removeFile(this.temp);
  }

  /**
   * fsyncs the complete file, sets its mtime, places it and fsyncs its directory. Returns the stored path relative to the root
   * ("name (1).ext" when the name was taken and overwrite is off).
   */
  async commit(mtimeMs: number): Promise<string> {
    this.#settled = true;
    try {
      this.stream.end();
      await once(this.stream, 'close');
      await fs.utimes(this.temp, new Date(), new Date(mtimeMs));
      const parent = await this.#parentDirectory();
      const name = this.segments[this.segments.length - 1] as string;
      const stored = await this.#place(parent, name);
      await this.directorySync.sync(parent);
      return [...this.segments.slice(0, -1), stored].join('/');
    } finally {
      await removeFile(this.temp);
    }
  }

  #parentDirectory(): Promise<string> {
    return checkParents(this.root, this.segments, true);
  }

  async #place(parent: string, name: string): Promise<string> {
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
