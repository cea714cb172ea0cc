/**
 * Partial files kept for resuming (docs/PROTOCOL.md §6.3), in the hidden folder PARTIAL_DIR of a receiving root:
 *
 *   t-<random>-<n>.part (+ .json)   being received now (<random> per instance, <n> counts its temporaries)
 *   r-<id>.part + r-<id>.json       parked, waiting for the same file to come back
 *
 * where <id> names (path, size, mtime). A session claims a parked partial by renaming it to its own t- name, so two
 * sessions never share one. This module owns the four steps: park, claim, release, tidy.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmdirSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashFilePrefix } from '../crypto/hash.js';
import { errnoCode } from '../util/fs-errors.js';
import { PARTIAL_DIR } from './paths.js';

/** What a resumable partial is for; stored beside it as JSON. */
export interface PartialIdentity {
  path: string;
  size: number;
  /** Nanoseconds, as a decimal string (JSON has no 64-bit integers). */
  mtimeNs: string;
}

/** A parked partial claimed by a session: its content so far and the SHA-256 state over it. */
export interface ClaimedPartial {
  temp: string;
  offset: number;
  hash: Hash;
}

/** A stable name for (path, size, mtime): the first 32 hex digits of SHA-256 of the JSON array [path, size, mtime]. */
export function partialId(identity: PartialIdentity): string {
  return createHash('sha256').update(JSON.stringify([identity.path, identity.size, identity.mtimeNs])).digest('hex').slice(0, 32);
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function readIdentity(path: string): PartialIdentity | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as PartialIdentity;
    return typeof value.path === 'string' && Number.isSafeInteger(value.size) && /^[0-9]+$/.test(value.mtimeNs) ? value : undefined;
  } catch {
    return undefined;
  }
}

const metaOf = (part: string) => part.replace(/\.part$/, '.json');

// Metadata calls here are synchronous: ~5 µs each on a local disk, against ~50 µs of thread-pool latency.
export class Partials {
  readonly dir: string;
  /** Temporary names are this instance's random prefix and a counter: unique without a random draw per file. */
  readonly #prefix = randomBytes(8).toString('hex');
  #temps = 0;

  constructor(root: string) {
    this.dir = join(root, PARTIAL_DIR);
  }

  #tempName(): string {
    return join(this.dir, `t-${this.#prefix}-${(this.#temps++).toString(36)}.part`);
  }

  /** A new temporary name (t-…part), with its identity written beside it when the file is resumable. */
  newTemp(identity?: PartialIdentity): string {
    const temp = this.#tempName();
    if (identity !== undefined) this.#inFolder(() => writeFileSync(metaOf(temp), JSON.stringify(identity), { flag: 'wx' }));
    return temp;
  }

  /** Creates the temporary file `temp` (exclusive) and returns its descriptor. */
  create(temp: string, mode: number): number {
    return this.#inFolder(() => openSync(temp, 'wx', mode));
  }

  /** Runs `make`; if it fails with ENOENT, makes the folder (not made yet, removed after the last session, or by hand) and runs it again. */
  #inFolder<T>(make: () => T): T {
    try {
      return make();
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
    try {
      mkdirSync(this.dir, { mode: 0o700 });
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    return make();
  }

  /** Parks the temporary file `temp` (its content all authenticated) for a later session. */
  park(temp: string): void {
    const identity = readIdentity(metaOf(temp));
    if (identity === undefined) return this.drop(temp);
    const parked = join(this.dir, `r-${partialId(identity)}`);
    renameSync(metaOf(temp), `${parked}.json`);
    renameSync(temp, `${parked}.part`);
  }

  /** Removes the folder if nothing is parked in it, so that a finished get leaves only what it got. */
  removeIfEmpty(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // Not empty (a partial kept for resuming) or already gone.
    }
  }

  /**
   * Deletes a temporary file and its identity (`withIdentity` false: it has none, as a file of one chunk, and the
   * two calls it would cost per small file are saved). The identity goes first: a .part left alone by a crash is
   * removed at start-up.
   */
  drop(temp: string, withIdentity = true): void {
    if (withIdentity) removeFile(metaOf(temp));
    removeFile(temp);
  }

  /**
   * Claims the parked partial of `identity`, if any: truncates it to whole chunks (at most the start of the last
   * chunk, which must come with its final flag) and hashes what it holds.
   */
  async claim(identity: PartialIdentity, chunkSize: number): Promise<ClaimedPartial | undefined> {
    const parked = join(this.dir, `r-${partialId(identity)}`);
    const temp = this.#tempName();
    try {
      renameSync(`${parked}.part`, temp);
    } catch {
      return undefined;
    }
    try {
      renameSync(`${parked}.json`, metaOf(temp));
    } catch {
      writeFileSync(metaOf(temp), JSON.stringify(identity), { flag: 'wx' });
    }
    const info = statSync(temp);
    if (info.nlink > 1) {
      // Also a placed file (a server killed between placing and cleaning up): never write into that inode.
      this.drop(temp);
      return undefined;
    }
    const lastChunkStart = Math.max(0, Math.ceil(identity.size / chunkSize) - 1) * chunkSize;
    const offset = Math.min(Math.floor(info.size / chunkSize) * chunkSize, lastChunkStart);
    truncateSync(temp, offset);
    return { temp, offset, hash: await hashFilePrefix(temp, offset) };
  }

  /** Gives a claimed partial back: parked again with `keep`, else deleted. */
  release(claimed: ClaimedPartial, keep: boolean): void {
    if (keep) this.park(claimed.temp);
    else this.drop(claimed.temp);
  }

  /**
   * Removes parked partials older than `maxAgeMs`. With `recover` (only one process, before any session runs on
   * this root), first parks the resumable t- files a killed process left and removes the others.
   */
  tidy(maxAgeMs: number, recover = false): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    const now = Date.now();
    for (const name of names) {
      const path = join(this.dir, name);
      if (recover && name.startsWith('t-') && name.endsWith('.part')) {
        // A second link means the file was placed and only its temporary name was left: it is delivered.
        if (statSync(path, { throwIfNoEntry: false })?.nlink === 1) this.park(path);
        else this.drop(path);
      } else if (name.startsWith('r-')) {
        const info = statSync(path, { throwIfNoEntry: false });
        if (info !== undefined && now - info.mtimeMs > maxAgeMs) removeFile(path);
      }
    }
    // A parked .part without its .json (or the reverse) cannot be resumed, nor can a t- name left after recovery.
    const left = new Set(readdirSync(this.dir));
    for (const name of left) {
      if (recover && name.startsWith('t-')) removeFile(join(this.dir, name));
      if (!name.startsWith('r-')) continue;
      const twin = name.endsWith('.part') ? metaOf(name) : name.replace(/\.json$/, '.part');
      if (!left.has(twin)) removeFile(join(this.dir, name));
    }
  }
}
