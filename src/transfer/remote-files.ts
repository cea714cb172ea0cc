/**
 * The server's side of get, ls and rm inside one root (an account's home, or the shared inbox): every path is
 * checked with the name rules, walked one directory at a time with lstat (a symlink anywhere on the way refuses
 * it), and files are later opened with O_NOFOLLOW, so nothing outside the root is ever read, listed or removed.
 */
import { lstatSync, readdirSync, rmdirSync, unlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { SftError } from '../errors.js';
import { ListingType, type ListingEntry, type Notice } from '../protocol/messages.js';
import { safeDirectory } from './paths.js';
import type { SendEntry } from './sender.js';
import { PARTIAL_DIR } from './paths.js';

/** Entries one get may send, and directory entries one ls may list. */
export const MAX_GET_ENTRIES = 1_000_000;
export const MAX_LIST_ENTRIES = 100_000;

interface Resolved {
  /** Absolute path. */
  path: string;
  segments: string[];
  info: BigIntStats;
}

/**
 * Resolves a client's path inside `root` without following any symlink: undefined when it does not exist.
 * @throws SftError REFUSED for an unsafe name or a path through a symlink or a file.
 */
export function resolveInside(root: string, requested: string): Resolved | undefined {
  const segments = safeDirectory(requested, root);
  let path = root;
  for (const [i, segment] of segments.entries()) {
    path = join(path, segment);
    const info = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (info === undefined) return undefined;
    if (i < segments.length - 1 && !info.isDirectory()) throw new SftError('REFUSED', `refused ${requested}: it passes through a symlink or a file`);
    if (i === segments.length - 1) return { path, segments, info };
  }
  return { path: root, segments, info: lstatSync(root, { bigint: true }) };
}

function typeOf(info: BigIntStats): ListingType {
  if (info.isFile()) return ListingType.File;
  if (info.isDirectory()) return ListingType.Directory;
  if (info.isSymbolicLink()) return ListingType.Symlink;
  return ListingType.Other;
}

function notice(code: string, path: string, message: string): Notice {
  return { code, path, message };
}

/**
 * What a get of `paths` sends: files as themselves, directories recursively with their relative paths under the
 * directory's name (as scp -r), empty directories included; symlinks and special files become notices.
 */
export function collectRemote(root: string, paths: string[]): { entries: SendEntry[]; notices: Notice[] } {
  const entries: SendEntry[] = [];
  const notices: Notice[] = [];
  const add = (path: string, sent: string, info: BigIntStats) => {
    if (entries.length >= MAX_GET_ENTRIES) throw new SftError('REFUSED', `more than ${MAX_GET_ENTRIES} entries in one get`);
    const base = { path: sent, mode: Number(info.mode & 0o7777n), mtimeNs: info.mtimeNs };
    if (info.isFile()) entries.push({ ...base, kind: 'file', source: path, size: Number(info.size), noFollow: true });
    else if (info.isDirectory()) {
      entries.push({ ...base, kind: 'directory', size: 0 });
      for (const name of readdirSync(path).sort()) {
        if (sent === '' && name === PARTIAL_DIR) continue;
        const child = join(path, name);
        const childInfo = lstatSync(child, { bigint: true });
        add(child, sent === '' ? name : `${sent}/${name}`, childInfo);
      }
    } else notices.push(notice('SKIPPED', sent, `skipped ${sent}: ${info.isSymbolicLink() ? 'a symlink (not followed)' : 'not a regular file'}`));
  };
  for (const requested of paths) {
    let resolved: Resolved | undefined;
    try {
      resolved = resolveInside(root, requested);
    } catch (error) {
      notices.push(notice('REFUSED', requested, (error as Error).message));
      continue;
    }
    if (resolved === undefined) notices.push(notice('NOT_FOUND', requested, `${requested}: no such file or directory`));
    else if (resolved.segments.length === 0) {
      // The whole root: its contents, without the root's own name.
      for (const name of readdirSync(root).sort()) if (name !== PARTIAL_DIR) add(join(root, name), name, lstatSync(join(root, name), { bigint: true }));
    } else add(resolved.path, resolved.segments[resolved.segments.length - 1] as string, resolved.info);
  }
  // A directory entry must come before what it holds; dropping the root's partial folder keeps paths safe.
  return { entries: entries.filter((e) => e.path !== ''), notices };
}

/** The entries of a directory (or the one entry of a file), for ls. */
export function listRemote(root: string, requested: string): ListingEntry[] {
  const resolved = resolveInside(root, requested);
  if (resolved === undefined) throw new SftError('REFUSED', `${requested}: no such file or directory`);
  if (requested.endsWith('/') && !resolved.info.isDirectory()) throw new SftError('REFUSED', `${requested}: not a directory (a symlink is never followed)`);
  const entry = (name: string, info: BigIntStats): ListingEntry => ({ type: typeOf(info), size: info.isFile() ? Number(info.size) : 0, mtimeNs: info.mtimeNs, name });
  if (!resolved.info.isDirectory()) return [entry(resolved.segments.at(-1) ?? '', resolved.info)];
  const names = readdirSync(resolved.path).filter((name) => !(resolved.segments.length === 0 && name === PARTIAL_DIR));
  if (names.length > MAX_LIST_ENTRIES) throw new SftError('REFUSED', `${requested} holds more than ${MAX_LIST_ENTRIES} entries`);
  return names.sort().map((name) => entry(name, lstatSync(join(resolved.path, name), { bigint: true })));
}

/** Removes files (and empty directories); returns a notice for each path that could not be removed. */
export function removeRemote(root: string, paths: string[]): { removed: number; notices: Notice[] } {
  let removed = 0;
  const notices: Notice[] = [];
  for (const requested of paths) {
    try {
      const resolved = resolveInside(root, requested);
      if (resolved === undefined) throw new SftError('REFUSED', `${requested}: no such file or directory`);
      if (resolved.segments.length === 0) throw new SftError('REFUSED', 'refused: the home directory itself cannot be removed');
      if (resolved.info.isDirectory()) rmdirSync(resolved.path);
      else unlinkSync(resolved.path);
      removed++;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      notices.push(notice('REFUSED', requested, code === 'ENOTEMPTY' ? `${requested}: directory not empty` : (error as Error).message));
    }
  }
  return { removed, notices };
}

/** Bytes of regular files under `root` (for quotas), counting at most `maxEntries` entries. */
export function usage(root: string, maxEntries = 10_000_000): number {
  let bytes = 0;
  let seen = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (++seen > maxEntries) throw new SftError('REFUSED', 'too many files to compute the quota');
      const info = lstatSync(join(dir, name));
      if (info.isDirectory()) walk(join(dir, name));
      else if (info.isFile()) bytes += info.size;
    }
  };
  walk(root);
  return bytes;
}
