/** What every command shares: the process's streams, the reporter, option parsers. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { readPassword } from './password.js';
import type { Reporter } from './reporter.js';

/** The process's streams and environment, injectable for tests. */
export interface CliIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** One CLI run: its streams and the reporter every command writes through (the top-level catch stops its bars). */
export interface Context {
  io: CliIo;
  out: Reporter;
}

export interface CommonOptions {
  json?: boolean;
  debug?: boolean;
  passwordFile?: string;
}

/** Draw a progress bar only for inputs at least this large. */
export const PROGRESS_THRESHOLD = 16 * 1024 * 1024;

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function withCommon(command: Command): Command {
  return command
    .option('--password-file <path>', 'read the password from the first line of this file (else SFT_PASSWORD, else a prompt)')
    .option('--json', 'machine-readable output: one JSON object per line on stdout')
    .option('--debug', 'print stack traces on errors');
}

export function password(ctx: Context, options: CommonOptions, confirm: boolean): Promise<string> {
  const { io } = ctx;
  return readPassword({ confirm, env: io.env, stdin: io.stdin, stderr: io.stderr, ...(options.passwordFile === undefined ? {} : { passwordFile: options.passwordFile }) });
}

export function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new UsageError(`${name} expects an integer in [${min}, ${max}], got "${value}"`);
    return n;
  };
}

export function seconds(value: number | undefined): number | undefined {
  return value === undefined ? undefined : value * 1000;
}

/** Drops undefined values, for exactOptionalPropertyTypes. */
export function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** host, host:port, [v6]:port. */
export function parseAddress(text: string, flag = '--to'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::([0-9]+))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 7878 : Number(match[3]);
  if (host === undefined || port < 1 || port > 65535) throw new UsageError(`${flag} expects [user@]host[:port] (an IPv6 address as [::1]:7878), got "${text}"`);
  return { host, port };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4 };

/**
 * A size in bytes with an optional unit, as rsync reads them: `K`, `M`, `G`, `T` and `KiB`… are powers of 1024,
 * `KB`, `MB`… powers of 1000 (case-insensitive); `1.5G` is allowed.
 */
export function parseSize(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const match = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(value.trim());
    const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
    const n = match === null || unit === undefined ? NaN : Math.floor(Number(match[1]) * unit);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${name} expects a size such as 500M, 2G or 1048576, got "${value}"`);
    return n;
  };
}

/** `[user@]host[:port]`, with an IPv6 literal as `[::1]:7878`. */
export function parseRemote(text: string, flag: string): { account?: string; host: string; port: number } {
  const at = text.lastIndexOf('@');
  const account = at > 0 ? text.slice(0, at) : undefined;
  const { host, port } = parseAddress(at > 0 ? text.slice(at + 1) : text, flag);
  if (at === 0) throw new UsageError(`${flag} expects [user@]host[:port], got "${text}"`);
  return { ...(account === undefined ? {} : { account }), host, port };
}
