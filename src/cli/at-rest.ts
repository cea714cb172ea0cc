/** What the encrypt, decrypt and keygen commands share: `-` for standard streams, keys files, signals, prompts. */
import { openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ReadStream } from 'node:tty';
import { InterruptedError, SftError, UsageError } from '../errors.js';
import { OutputExistsError } from '../rest/io.js';
import type { Input, Passphrase, Target } from '../rest/files.js';
import { fileError } from '../util/fs-errors.js';
import { password, type CommonOptions, type Context } from './common.js';

export const STDIO = '-';

/** Repeatable options (`-r a -r b`) collect into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The input: a path, or standard input for `-` (and for no argument at all). */
export function inputOf(ctx: Context, file: string | undefined): { input: Input; path?: string } {
  return file === undefined || file === STDIO ? { input: ctx.io.stdin } : { input: file, path: file };
}

/** The output: a path, or standard output for `-`. --json needs standard output for itself. */
export function targetOf(ctx: Context, output: string, options: CommonOptions): { target: Target; path?: string } {
  if (output !== STDIO) return { target: output, path: output };
  if (options.json === true) throw new UsageError('--json prints on standard output, which carries the data here: give -o FILE');
  return { target: ctx.io.stdout };
}

/** Reads a keys file (`-`: standard input) as text. */
export async function readKeysFile(ctx: Context, path: string): Promise<string> {
  if (path === STDIO) {
    let text = '';
    for await (const chunk of ctx.io.stdin as AsyncIterable<Buffer | string>) text += chunk.toString();
    return text;
  }
  return readFile(path, 'utf8').catch((error: unknown) => {
    throw fileError(error, 'read', path);
  });
}

/**
 * The password, asked for only when needed (the library calls this after checking paths and reading the header).
 * When standard input carries the data, the prompt reads the terminal itself (/dev/tty), as age does. `check`
 * (the strength warning) runs beside the work, not before it; `checked` collects it for the caller to await.
 */
export function passwordWhenNeeded(ctx: Context, options: CommonOptions, confirm: boolean, dataOnStdin: boolean, check?: (secret: string) => Promise<void>, checked: Promise<void>[] = []): Passphrase {
  return async () => {
    let secret: string;
    if (dataOnStdin && options.passwordFile === undefined && ctx.io.env.SFT_PASSWORD === undefined) {
      let tty: ReadStream;
      try {
        tty = new ReadStream(openSync('/dev/tty', 'r'));
      } catch {
        throw new UsageError('no password: standard input carries the data and there is no terminal to ask on; set SFT_PASSWORD or pass --password-file');
      }
      try {
        secret = await password({ ...ctx, io: { ...ctx.io, stdin: tty as unknown as NodeJS.ReadStream } }, options, confirm);
      } finally {
        tty.destroy();
      }
    } else {
      secret = await password(ctx, options, confirm);
    }
    if (check !== undefined) checked.push(check(secret));
    return secret;
  };
}

/** Stopped by SIGTERM: exit 143 (128 + 15), as shells report it. */
class Terminated extends SftError {
  override readonly exitCode = 143;
  constructor() {
    super('INTERRUPTED', 'interrupted (terminated)');
  }
}

/**
 * Runs `work` with an AbortSignal that Ctrl-C (SIGINT) and SIGTERM fire: the library then removes what it was
 * writing, and the command fails with "interrupted" and exit code 130 or 143. The library's option name for
 * replacing an output becomes the CLI's (--force).
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onInt = () => controller.abort(new InterruptedError());
  const onTerm = () => controller.abort(new Terminated());
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await work(controller.signal);
  } catch (error) {
    if (error instanceof OutputExistsError) throw new SftError('IO', `output exists: ${error.path} (use --force to replace it)`);
    throw error;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
