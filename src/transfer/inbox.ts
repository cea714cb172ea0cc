/**
 * Where the server stores files. Content goes to a temporary file in the hidden PARTIAL_DIR, and only a complete,
 * verified file is fsynced and linked (or, with overwrite, renamed) to its place: the inbox never shows a partial
 * file, a name is never replaced silently, and nothing is written outside the root or through a symlink.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, open, realpath, rename, rm, utimes } from 'node:fs/promises';
import { once } from 'node:events';
import { extname, join } from 'node:path';
import { SftError } from '../errors.js';
import { PARTIAL_DIR, safeSegments } from './paths.js';

const MAX_UNIQUE_ATTEMPTS = 1000;

export class Inbox {
  #root = '';

  constructor(
    private readonly dir: string,
    private readonly overwrite: boolean,
  ) {}

  /** The inbox's real path (after init). */
  get root(): string {
    return this.#root;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.#root = await realpath(this.dir);
    await mkdir(join(this.#root, PARTIAL_DIR), { recursive: true, mode: 0o700 });
  }

  /** Starts receiving `relativePath`. @throws SftError REFUSED for an unsafe name. */
  async begin(relativePath: string): Promise<IncomingFile> {
    const segments = safeSegments(relativePath);
    await checkParents(this.#root, segments, false);
    const temp = join(this.#root, PARTIAL_DIR, `${randomBytes(12).toString('hex')}.part`);
    let stream = await openTemp(temp);
    if (stream === undefined) {
      // An operator emptied the inbox while the server runs: make the partial folder again.
      await mkdir(join(this.#root, PARTIAL_DIR), { recursive: true, mode: 0o700 });
      stream = await openTemp(temp);
    }
    if (stream === undefined) throw new SftError('IO', 'cannot create a temporary file in the inbox');
    return new IncomingFile(this.#root, segments, temp, stream, this.overwrite);
  }
}

/** Opens a new temporary file; undefined when its folder is missing. */
async function openTemp(path: string): Promise<WriteStream | undefined> {
  const stream = createWriteStream(path, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1024 * 1024 });
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
    await rm(this.temp, { force: true });
  }

  /**
   * fsyncs the complete file, sets its mode and mtime, and places it. Returns the stored path relative to the root
   * ("name (1).ext" when the name was taken and overwrite is off).
   */
  async commit(mode: number, mtimeMs: number): Promise<string> {
    this.#settled = true;
    try {
      this.stream.end();
      await once(this.stream, 'close');
      await chmod(this.temp, (mode & 0o755) | 0o600);
      await utimes(this.temp, new Date(), new Date(mtimeMs));
      const parent = await this.#parentDirectory();
      const name = this.segments[this.segments.length - 1] as string;
      const stored = await this.#place(parent, name);
      const dir = await open(parent, 'r');
      await dir.sync().finally(() => dir.close());
      return [...this.segments.slice(0, -1), stored].join('/');
    } finally {
      await rm(this.temp, { force: true });
    }
  }

  #parentDirectory(): Promise<string> {
    return checkParents(this.root, this.segments, true);
  }

  async #place(parent: string, name: string): Promise<string> {
    if (this.overwrite) {
      const target = join(parent, name);
      const existing = await lstat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw new SftError('REFUSED', `refused file name: ${this.segments.join('/')} is a directory on the server`);
      await rename(this.temp, target);
      return name;
    }
    const ext = extname(name);
    const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
    for (let n = 0; n < MAX_UNIQUE_ATTEMPTS; n++) {
      const candidate = n === 0 ? name : `${stem} (${n})${stem === name ? '' : ext}`;
      try {
        await link(this.temp, join(parent, candidate));
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
    if (create) {
      await mkdir(dir, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    const info = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' && !create) return undefined;
      throw error;
    });
    if (info === undefined) break;
    if (!info.isDirectory()) throw new SftError('REFUSED', `refused file name: ${segments.join('/')} passes through a non-directory or symlink`);
  }
  return dir;
}
