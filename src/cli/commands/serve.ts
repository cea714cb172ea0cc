import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { MAX_ITERATIONS } from '../../crypto/pbkdf2.js';
import type { ServerOptions } from '../../transfer/server.js';
import { defined, password, parseInteger, parseSize, seconds, withCommon, type CommonOptions, type Context } from '../common.js';
import { passwordStrength } from '../password.js';
import { serveWith } from '../serve-cluster.js';

interface ServeOptions extends CommonOptions {
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

export function serveCommand(program: Command, ctx: Context): void {
  withCommon(program.command('serve'))
    .description('receive files from sft send (many clients at once) into a directory')
    .option('--dir <dir>', 'receiving directory', './inbox')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', parseInteger('--port', 0, 65535), 7878)
    .option('--overwrite', 'replace existing files atomically instead of storing under a unique name')
    .option('--max-file-size <size>', 'largest file accepted, e.g. 10G (default 1T)', parseSize('--max-file-size'))
    .option('--max-files <n>', 'most files in one session', parseInteger('--max-files', 1, 2 ** 32 - 1))
    .option('--max-connections <n>', 'concurrent connections', parseInteger('--max-connections', 1, 100_000))
    .option('--handshake-timeout <seconds>', 'time allowed for the handshake', parseInteger('--handshake-timeout', 1, 3600))
    .option('--idle-timeout <seconds>', 'drop a session silent for this long', parseInteger('--idle-timeout', 1, 86_400))
    .option('--min-iterations <n>', 'lowest PBKDF2 iteration count a client may use', parseInteger('--min-iterations', 1, MAX_ITERATIONS))
    .option('--max-iterations <n>', 'highest PBKDF2 iteration count a client may use', parseInteger('--max-iterations', 1, MAX_ITERATIONS))
    .option('--partial-max-age <seconds>', 'remove kept partial files (for resuming) after this long (default 7 days)', parseInteger('--partial-max-age', 1, 10 * 365 * 86_400))
    .option('--max-handshakes <n>', 'handshakes computing at once (default 16)', parseInteger('--max-handshakes', 1, 10_000))
    .option('--workers <n>', 'server processes sharing the port, so concurrent transfers use every core (default: cores, at most 8)', parseInteger('--workers', 1, 256))
    .action(async (options: ServeOptions) => {
      const { out } = ctx;
      const secret = await password(ctx, options, true);
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
}
