import { Command, CommanderError } from 'commander';
import { SftError } from '../errors.js';
import { actionWords, errnoCode, errnoWords } from '../util/fs-errors.js';
import { VERSION, type CliIo, type Context } from './common.js';
import { Reporter } from './reporter.js';
import { keygenCommand } from './commands/keygen.js';
import { decryptCommand } from './commands/decrypt.js';
import { encryptCommand } from './commands/encrypt.js';
import { getCommand } from './commands/get.js';
import { lsCommand } from './commands/ls.js';
import { receiveCommand } from './commands/receive.js';
import { relayCommand } from './commands/relay.js';
import { rmCommand } from './commands/rm.js';
import { sendCommand } from './commands/send.js';
import { serveCommand } from './commands/serve.js';
import { userCommand } from './commands/user.js';

export type { CliIo } from './common.js';

/** Builds the program: one registration per command, each in its own file under commands/. */
export function createProgram(ctx: Context): Command {
  const program = new Command('sft')
    .description('secure file transfer: password-authenticated, encrypted, verified')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.stdout.write(s), writeErr: (s) => ctx.io.stderr.write(s) });
  const commands = [encryptCommand, decryptCommand, keygenCommand, serveCommand, sendCommand, receiveCommand, getCommand, lsCommand, rmCommand, userCommand, relayCommand];
  for (const register of commands) register(program, ctx);
  return program;
}

/**
 * Runs the CLI; returns the exit code (0 ok, 2 usage, 3 auth, 4 integrity, 5 network, 1 other). Every error ends
 * here: progress bars are stopped first, then one line is printed (and one JSON event with --json).
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const out = new Reporter({ json, stdout: io.stdout, stderr: io.stderr });
  // `sft -v` prints the version, as `-V` and `--version` do.
  const args = argv[0] === '-v' ? ['-V', ...argv.slice(1)] : argv;
  try {
    await createProgram({ io, out }).parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    out.stopBars();
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      out.event({ event: 'error', code: 'USAGE', message: error.message.replace(/^error: /, '') });
      return 2;
    }
    const sftError = error instanceof SftError ? error : undefined;
    const code = sftError?.code ?? ioCode(error);
    const message = sftError?.message ?? ioMessage(error);
    out.event({ event: 'error', code, message });
    out.error(message);
    if (argv.includes('--debug') && error instanceof Error && error.stack) io.stderr.write(error.stack + '\n');
    return sftError?.exitCode ?? 1;
  } finally {
    out.stopBars();
  }
}

function ioCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ? 'IO' : 'INTERNAL';
}

/** One line naming what failed, for an error that is not ours (file system, mostly). */
function ioMessage(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (errnoCode(e) !== undefined && e.path) return `cannot ${actionWords(e)} ${e.path}: ${errnoWords(e)}`;
  return e instanceof Error ? e.message : String(error);
}
