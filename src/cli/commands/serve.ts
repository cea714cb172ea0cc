import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { MAX_ITERATIONS } from '../../crypto/pbkdf2.js';
import { UsageError } from '../../errors.js';
import { AccountStore } from '../../transfer/accounts.js';
import type { ServerOptions } from '../../transfer/server.js';
import { defined, password, parseInteger, parseSize, seconds, withCommon, type CommonOptions, type Context } from '../common.js';
import { passwordStrength } from '../password.js';

interface ServeOptions extends CommonOptions {
  dir: string;
  host: string;
  port: number;
  accounts?: string;
  allowGet?: boolean;
  overwrite?: boolean;
  iterations: number;
  maxFileSize?: number;
  maxFiles?: number;
  maxConnections?: number;
  maxUnauthenticated?: number;
  handshakeTimeout?: number;
  idleTimeout?: number;
  partialMaxAge?: number;
  maxHandshakes?: number;
  workers?: number;
}

/** Opens an accounts file for serving (it must exist: `sft user add` creates it). */
export async function openAccounts(file: string): Promise<AccountStore> {
  return AccountStore.open(file, { create: false });
}

export function serveCommand(program: Command, ctx: Context): void {
  withCommon(program.command('serve'))
    .description('serve a directory: receive files (sft send) from many clients at once; with accounts or --allow-get, also get, ls, rm')
    .option('--dir <dir>', 'the served directory: the inbox, or where account homes are', './inbox')
    .option('--host <host>', 'address to listen on (0.0.0.0 or :: for every interface)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', parseInteger('--port', 0, 65535), 7878)
    .option('--accounts <file>', 'serve accounts from this file (made with sft user add) instead of one shared password')
    .option('--allow-get', 'shared password: also let clients get and list files of the inbox')
    .option('--overwrite', 'replace existing files atomically instead of storing under a unique name')
    .option('--iterations <n>', 'PBKDF2 iterations of the shared password, run once at start', parseInteger('--iterations', 1000, MAX_ITERATIONS), 600_000)
    .option('--max-file-size <size>', 'largest file accepted, e.g. 10G', parseSize('--max-file-size'), 2 ** 40)
    .option('--max-files <n>', 'most entries in one session', parseInteger('--max-files', 1, 2 ** 32 - 1), 1_000_000)
    .option('--max-connections <n>', 'concurrent connections in all', parseInteger('--max-connections', 1, 100_000), 1024)
    .option('--max-unauthenticated <n>', 'unauthenticated connections per address (IPv6: per /64)', parseInteger('--max-unauthenticated', 1, 10_000), 8)
    .option('--max-handshakes <n>', 'handshakes computing at once, per process', parseInteger('--max-handshakes', 1, 10_000), 16)
    .option('--handshake-timeout <seconds>', 'time allowed for the handshake', parseInteger('--handshake-timeout', 1, 3600), 10)
    .option('--idle-timeout <seconds>', 'drop a session silent for this long', parseInteger('--idle-timeout', 1, 86_400), 60)
    .option('--partial-max-age <seconds>', 'remove partial files kept for resuming after this long', parseInteger('--partial-max-age', 1, 10 * 365 * 86_400), 7 * 86_400)
    .option('--workers <n>', 'server processes, so concurrent transfers use every core (default: cores, at most 8)', parseInteger('--workers', 1, 256))
    .action(async (options: ServeOptions) => {
      const { out } = ctx;
      if (options.accounts !== undefined && options.allowGet === true) throw new UsageError('--allow-get is for a shared password; accounts have their own permissions (sft user add --can)');
      const secret = options.accounts === undefined ? await password(ctx, options, true) : undefined;
      if (options.accounts !== undefined) await openAccounts(options.accounts);
      if (secret !== undefined) {
        const strength = await passwordStrength(secret);
        if (strength.score < 3) out.warn(`weak password (strength ${strength.score}/4). ${strength.advice}`.trim());
      }
      const serverOptions: ServerOptions = {
        dir: options.dir,
        host: options.host,
        port: options.port,
        overwrite: options.overwrite === true,
        allowGet: options.allowGet === true,
        iterations: options.iterations,
        ...(secret === undefined ? {} : { password: secret }),
        ...defined({
          maxFileSize: options.maxFileSize,
          maxFiles: options.maxFiles,
          handshakeTimeout: seconds(options.handshakeTimeout),
          idleTimeout: seconds(options.idleTimeout),
          partialMaxAge: seconds(options.partialMaxAge),
          maxHandshakes: options.maxHandshakes,
        }),
      };
      const { serveWith } = await import('../serve-cluster.js');
      await serveWith(
        {
          workers: options.workers ?? Math.min(availableParallelism(), 8),
          options: serverOptions,
          json: options.json === true,
          ...(options.accounts === undefined ? {} : { accountsFile: options.accounts }),
          admission: defined({ maxConnections: options.maxConnections, maxUnauthenticatedPerSource: options.maxUnauthenticated }),
        },
        out,
        openAccounts,
      );
    });
}
