#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { SftError, UsageError } from '../errors.js';
import { SecureFileTransfer, type FileFormat } from '../transfer/secure-file-transfer.js';
import cluster from 'node:cluster';
import { serveWith, serveWorker } from './serve.js';
import type { ServerOptions } from '../transfer/server.js';
import { availableParallelism } from 'node:os';
import { SecureClient } from '../transfer/client.js';
import { SUITE_NAMES, type Suite } from '../protocol/messages.js';
import { MAX_ITERATIONS } from '../crypto/pbkdf2.js';
import { passwordStrength, readPassword } from './password.js';
import { Reporter } from './reporter.js';

// Inbox work is many small file-system calls per file (open, fsync, link, ...): more threads overlap them.
process.env.UV_THREADPOOL_SIZE ??= '16';

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
    .option('--iterations <n>', 'PBKDF2 iterations for the fernet format', parseInteger('--iterations', 1, MAX_ITERATIONS))
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

  const serve = withCommon(program.command('serve'))
    .description('receive files from sft send (many clients at once) into a directory')
    .option('--dir <dir>', 'receiving directory', './inbox')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', parseInteger('--port', 0, 65535), 7878)
    .option('--overwrite', 'replace existing files atomically instead of storing under a unique name')
    .option('--max-file-size <bytes>', 'largest file accepted', parseInteger('--max-file-size', 0, Number.MAX_SAFE_INTEGER))
    .option('--max-files <n>', 'most files in one session', parseInteger('--max-files', 1, 2 ** 32 - 1))
    .option('--max-connections <n>', 'concurrent connections', parseInteger('--max-connections', 1, 100_000))
    .option('--handshake-timeout <seconds>', 'time allowed for the handshake', parseInteger('--handshake-timeout', 1, 3600))
    .option('--idle-timeout <seconds>', 'drop a session silent for this long', parseInteger('--idle-timeout', 1, 86_400))
    .option('--min-iterations <n>', 'lowest PBKDF2 iteration count a client may use', parseInteger('--min-iterations', 1, MAX_ITERATIONS))
    .option('--max-iterations <n>', 'highest PBKDF2 iteration count a client may use', parseInteger('--max-iterations', 1, MAX_ITERATIONS))
    .option('--partial-max-age <seconds>', 'remove kept partial files (for resuming) after this long (default 7 days)', parseInteger('--partial-max-age', 1, 10 * 365 * 86_400))
    .option('--max-handshakes <n>', 'handshakes computing at once (default 16)', parseInteger('--max-handshakes', 1, 10_000))
    .option('--workers <n>', 'server processes sharing the port, so concurrent transfers use every core (default: cores, at most 8)', parseInteger('--workers', 1, 256));
  serve.action(async (options: CommonOptions & ServeFlags) => {
    const out = reporter(options);
    const secret = await password(options, true);
    const strength = await passwordStrength(secret);
    if (strength.score < 3) out.warn(`weak password (strength ${strength.score}/4). ${strength.advice}`.trim());
    const workers = options.workers ?? Math.min(availableParallelism(), 8);
    const serverOptions: ServerOptions = {
      password: secret,
      dir: options.dir,
      host: options.host,
      port: options.port,
      overwrite: options.overwrite === true,
      ...defined({
        maxFileSize: options.maxFileSize,
        maxFiles: options.maxFiles,
        maxConnections: options.maxConnections === undefined ? undefined : Math.max(1, Math.floor(options.maxConnections / workers)),
        handshakeTimeout: seconds(options.handshakeTimeout),
        idleTimeout: seconds(options.idleTimeout),
        minIterations: options.minIterations,
        maxIterations: options.maxIterations,
        partialMaxAge: seconds(options.partialMaxAge),
        maxHandshakes: options.maxHandshakes,
      }),
    };
    await serveWith(workers, serverOptions, out);
  });

  withCommon(program.command('send').argument('<path...>', 'files and directories to send'))
    .description('send files and directories to an sft server in one session')
    .requiredOption('--to <host[:port]>', 'server address (port 7878 by default)')
    .addOption(new Option('--suite <suite>', 'cipher suite to ask for').choices(SUITE_NAMES))
    .option('--iterations <n>', 'PBKDF2 iterations for the handshake', parseInteger('--iterations', 1, MAX_ITERATIONS))
    .action(async (paths: string[], options: CommonOptions & { to: string; suite?: Suite; iterations?: number }) => {
      const out = reporter(options);
      const { host, port } = parseAddress(options.to);
      const files = await SecureClient.collect(paths, (path, why) => out.warn(`skipped ${path} (${why})`));
      const secret = await password(options, false);
      const total = files.reduce((n, f) => n + f.size, 0);
      const overall = out.bar('total', total);
      let current: { index: number; update: (done: number, size: number) => void } | undefined;
      const client = new SecureClient({
        password: secret,
        host,
        port,
        ...defined({ iterations: options.iterations, suites: options.suite === undefined ? undefined : [options.suite] }),
        onProgress: (p) => {
          if (overall === undefined) return;
          if (current?.index !== p.index) current = { index: p.index, update: out.bar(p.path, p.size) ?? (() => undefined) };
          current.update(p.done, p.size);
          overall(p.totalDone, p.totalSize);
        },
        onDelivered: (d) => {
          out.event({ event: 'delivered', ...d });
          if (overall === undefined) out.info(`delivered ${d.path}${d.storedPath === d.path ? '' : ` (stored as ${d.storedPath})`}: ${d.size} bytes, sha-256 ${d.sha256}`);
        },
      });
      const started = Date.now();
      const result = await client.send(files);
      out.stopBars();
      const seconds = (Date.now() - started) / 1000;
      out.event({ event: 'done', files: result.files.length, bytes: result.bytes, sentBytes: result.sentBytes, resumedBytes: result.resumedBytes, suite: result.suite, seconds });
      const resumed = result.resumedBytes > 0 ? ` (${result.resumedBytes} already on the server)` : '';
      out.info(`sent ${result.files.length} file(s), ${result.bytes} bytes${resumed} in ${seconds.toFixed(2)} s (${result.suite}); every receipt verified`);
    });

  return program;
}

interface ServeFlags {
  workers?: number;
  partialMaxAge?: number;
  maxHandshakes?: number;
  dir: string;
  host: string;
  port: number;
  overwrite?: boolean;
  maxFileSize?: number;
  maxFiles?: number;
  maxConnections?: number;
  handshakeTimeout?: number;
  idleTimeout?: number;
  minIterations?: number;
  maxIterations?: number;
}

function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new UsageError(`${name} expects an integer in [${min}, ${max}], got "${value}"`);
    return n;
  };
}

function seconds(value: number | undefined): number | undefined {
  return value === undefined ? undefined : value * 1000;
}

/** Drops undefined values, for exactOptionalPropertyTypes. */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** host, host:port, [v6]:port. */
export function parseAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::([0-9]+))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 7878 : Number(match[3]);
  if (host === undefined || port < 1 || port > 65535) throw new UsageError(`--to expects host[:port], got "${text}"`);
  return { host, port };
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
  if (cluster.isWorker) {
    await serveWorker(new Reporter({ json: process.argv.includes('--json'), stdout: process.stdout, stderr: process.stderr }));
  } else {
    process.exitCode = await run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  }
}
