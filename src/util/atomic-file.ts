import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { SftError } from '../errors.js';

export interface AtomicWriteOptions {
  /** Replace an existing file (atomically). Otherwise an existing file is an error and is left untouched. */
  overwrite?: boolean;
  mode?: number;
  /** fsync the file before it is moved into place (and the directory after), for crash durability. */
  fsync?: boolean;
}

/** A hidden temporary name beside `path`, on the same file system so the final rename is atomic. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.sft-tmp`);
}

/**
 * Runs `produce` against a temporary file beside `path`; only when it resolves is the file fsynced and moved to
 * `path`. On any failure the temporary file is removed: `path` never holds partial or unverified content.
 * @throws SftError IO when `path` exists and `overwrite` is not set, plus whatever `produce` throws.
 */
export async function atomicWrite<T>(path: string, produce: (out: Writable, tempPath: string) => Promise<T>, options: AtomicWriteOptions = {}): Promise<T> {
  const temp = tempPathFor(path);
  // flush: fsync before close, so the rename below never exposes a file whose data is not on disk.
  const out = createWriteStream(temp, { flags: 'wx', mode: options.mode ?? 0o666, flush: options.fsync === true, highWaterMark: 1024 * 1024 });
  try {
    await once(out, 'open');
    const result = await produce(out, temp);
    if (!out.closed) await once(out, 'close');
    await placeFile(temp, path, options.overwrite ?? false, options.fsync === true);
    return result;
  } catch (error) {
    out.destroy();
    if (!out.closed) await once(out, 'close').catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}

/** Moves a complete temporary file into place: rename() to replace, link() + unlink to refuse an existing name. */
async function placeFile(temp: string, path: string, overwrite: boolean, fsyncDir = false): Promise<void> {
  if (overwrite) {
    await rename(temp, path);
  } else {
    try {
      await link(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new SftError('IO', `output exists: ${path} (the overwrite option replaces it)`);
      throw error;
    }
    await rm(temp);
  }
  if (fsyncDir) {
    const dir = await open(dirname(path), 'r');
    await dir.sync().finally(() => dir.close());
  }
}
