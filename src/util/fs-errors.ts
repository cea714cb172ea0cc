/**
 * File-system errors in words, with the user's own path: `cannot write ro/out.bin: read-only file system`
 * instead of `open ro/.out.bin.e80ae3228d12.sft-tmp: EROFS`. Shared by the CLI, the at-rest code and the transfer.
 */
import { SftError } from '../errors.js';

const WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'it already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EIO: 'input/output error',
  EFBIG: 'the file is too large',
  EPIPE: 'the reading end of the pipe was closed',
  EXDEV: 'not on the same file system',
  EBUSY: 'the file is busy',
  ETXTBSY: 'the file is busy',
  EINVAL: 'invalid argument',
};

/** What a system call was doing, in words, for errors that carry no action of ours. */
const ACTIONS: Record<string, string> = {
  mkdir: 'create the directory',
  open: 'open',
  read: 'read',
  write: 'write',
  link: 'place',
  rename: 'place',
  unlink: 'remove',
  rmdir: 'remove',
  stat: 'read',
  lstat: 'read',
  scandir: 'list',
  fsync: 'save',
  fdatasync: 'save',
  access: 'reach',
  realpath: 'reach',
  utime: 'set the time of',
  futime: 'set the time of',
};

/** The action of a Node.js file-system error in words ("create the directory"), or "use". */
export function actionWords(error: unknown): string {
  const syscall = (error as NodeJS.ErrnoException | undefined)?.syscall;
  return (syscall === undefined ? undefined : ACTIONS[syscall]) ?? 'use';
}

/** The errno code of a Node.js file-system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * What an errno means, in words. Codes not in the table get the words from Node's own message
 * ("EXYZ: words, syscall 'path'"), never the bare code.
 */
export function errnoWords(error: unknown): string {
  const code = errnoCode(error);
  if (code !== undefined && WORDS[code] !== undefined) return WORDS[code];
  const match = /^[A-Z0-9]+: ([^,]+)/.exec((error as Error | undefined)?.message ?? '');
  return match?.[1] ?? 'unknown system error';
}

/**
 * Wraps a file-system error as SftError IO: `cannot ${action} ${path}: ${words}`. SftErrors pass through unchanged;
 * anything that is not a file-system error is returned as it is.
 */
export function fileError(error: unknown, action: string, path: string): unknown {
  if (error instanceof SftError || errnoCode(error) === undefined) return error;
  const code = errnoCode(error);
  const words = code === 'EISDIR' ? `${path} is a directory` : errnoWords(error);
  return new SftError('IO', `cannot ${action} ${path}: ${words}`, { cause: error });
}
