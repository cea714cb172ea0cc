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
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::([0-9]+))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 7878 : Number(match[3]);
  if (host === undefined || port < 1 || port > 65535) throw new UsageError(`${flag} expects host[:port], got "${text}"`);
  return { host, port };
}
