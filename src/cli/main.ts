#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { SftError, UsageError } from '../errors.js';
import { SecureFileTransfer, type FileFormat } from '../transfer/secure-file-transfer.js';
import { passwordStrength, readPassword } from './password.js';
import { Reporter } from './reporter.js';

/** The process's streams and environment, injectable for tests. */
export interface CliIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

interface CommonOptions {
  json?: boolean;
  debug?: boolean;
  passwordFile?: string;
}

/** Draw a progress bar only for inputs at least this large. */
const PROGRESS_THRESHOLD = 16 * 1024 * 1024;

function defaultDecryptOutput(input: string): string {
  const match = /^(.+)\.(age|fernet)$/.exec(input);
  if (match?.[1] === undefined) throw new UsageError(`cannot name the output for ${input}: pass -o <file>`);
  return match[1];
}

function parsePositiveInt(name: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`${name} expects a positive integer, got "${value}"`);
    return Number(value);
  };
}

/** Builds the program; `run()` executes it and returns the exit code. */
export function createProgram(io: CliIo): Command {
  const program = new Command('sft')
    .description('secure file transfer: password-authenticated, encrypted, verified')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const withCommon = (command: Command) =>
    command
      .option('--password-file <path>', 'read the password from the first line of this file (else SFT_PASSWORD, else a prompt)')
      .option('--json', 'machine-readable output: one JSON object per line on stdout')
      .option('--debug', 'print stack traces on errors');

  const reporter = (options: CommonOptions) => new Reporter({ json: options.json === true, stdout: io.stdout, stderr: io.stderr });
  const password = (options: CommonOptions, confirm: boolean) =>
    readPassword({ confirm, env: io.env, stdin: io.stdin, stderr: io.stderr, ...(options.passwordFile === undefined ? {} : { passwordFile: options.passwordFile }) });

  withCommon(program.command('encrypt').argument('<file>', 'file to encrypt'))
    .description('encrypt a file with a password')
    .option('-o, --output <file>', 'output file (default: <file>.age or <file>.fernet)')
    .addOption(new Option('--format <format>', 'file format').choices(['age', 'fernet']).default('age'))
    .option('--iterations <n>', 'PBKDF2 iterations for the fernet format', parsePositiveInt('--iterations'))
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string, options: CommonOptions & { output?: string; format: FileFormat; iterations?: number; force?: boolean }) => {
      const out = reporter(options);
      const secret = await password(options, true);
      const strength = await passwordStrength(secret);
      if (strength.score < 3) out.warn(`weak password (strength ${strength.score}/4). ${strength.advice}`.trim());
      const output = options.output ?? `${file}.${options.format}`;
      const bar = out.bar(file, 0);
      const result = await SecureFileTransfer.encryptFile(file, output, {
        password: secret,
        format: options.format,
        overwrite: options.force === true,
        ...(options.iterations === undefined ? {} : { iterations: options.iterations }),
        ...(bar === undefined ? {} : { onProgress: (done, total) => total >= PROGRESS_THRESHOLD && bar(done, total) }),
      });
      out.stopBars();
      out.event({ event: 'encrypted', input: file, output, format: result.format, size: result.size });
      out.info(`encrypted ${file} -> ${output} (${result.format}, ${result.size} bytes)`);
    });

  withCommon(program.command('decrypt').argument('<file>', 'file to decrypt (age or fernet, detected)'))
    .description('decrypt and verify a file; nothing is written unless every check passes')
    .option('-o, --output <file>', 'output file (default: <file> without .age or .fernet)')
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string, options: CommonOptions & { output?: string; force?: boolean }) => {
      const out = reporter(options);
      const output = options.output ?? defaultDecryptOutput(file);
      const secret = await password(options, false);
      const bar = out.bar(file, 0);
      const result = await SecureFileTransfer.decryptFile(file, output, {
        password: secret,
        overwrite: options.force === true,
        ...(bar === undefined ? {} : { onProgress: (done, total) => total >= PROGRESS_THRESHOLD && bar(done, total) }),
      });
      out.stopBars();
      out.event({ event: 'decrypted', input: file, output, format: result.format, size: result.size, ...(result.sha256 ? { sha256: result.sha256 } : {}) });
      out.info(`decrypted ${file} -> ${output} (${result.format}, ${result.size} bytes${result.sha256 ? `, sha-256 ${result.sha256} verified` : ', authenticated'})`);
    });

  return program;
}

/** Runs the CLI; returns the exit code (0 ok, 2 usage, 3 auth, 4 integrity, 5 network, 1 other). */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    const json = argv.includes('--json');
    const debug = argv.includes('--debug');
    const sftError = error instanceof SftError ? error : undefined;
    const code = sftError?.code ?? ioCode(error);
    const message = sftError?.message ?? ioMessage(error);
    if (json) io.stdout.write(JSON.stringify({ event: 'error', code, message }) + '\n');
    io.stderr.write(`sft: error: ${message}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(error.stack + '\n');
    return sftError?.exitCode ?? 1;
  }
}

function ioCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ? 'IO' : 'INTERNAL';
}

/** One line naming what failed, for an error that is not ours (file system, mostly). */
function ioMessage(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code && e.path) return `${e.syscall ?? 'access'} ${e.path}: ${e.code}`;
  return e instanceof Error ? e.message : String(error);
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  const code = await run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  process.exitCode = code;
}
