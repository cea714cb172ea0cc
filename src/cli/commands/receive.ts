import type { Command } from 'commander';
import { AuthError } from '../../errors.js';
import { relayAddress } from '../config.js';
import { formatBytes } from '../reporter.js';
import { interruptible, withInterrupt } from '../remote.js';
import { withCommon, type CommonOptions, type Context } from '../common.js';

interface ReceiveOptions extends CommonOptions {
  output: string;
  relay?: string;
}

export function receiveCommand(program: Command, ctx: Context): void {
  withCommon(program.command('receive').argument('<code>', 'the code the sender was given, e.g. 7-acorn-jolly-pasta'))
    .description('receive what a person sends with sft send (no --to) through a relay; run again with a new code to resume')
    .option('-o, --output <dir>', 'directory to store into (created if missing)', '.')
    .option('--relay <host[:port]>', 'the relay (else SFT_RELAY, else the config file; port 7879 by default)')
    .action(async (code: string, options: ReceiveOptions) => {
      const { out } = ctx;
      const relay = await relayAddress(options.relay, ctx.io.env);
      const started = Date.now();
      const { receiveThroughRelay } = await import('../../transfer/relayed.js');
      const result = await interruptible(
        withInterrupt((signal) =>
          receiveThroughRelay(code, {
            relay,
            dir: options.output,
            signal,
            onPaired: () => out.event({ event: 'paired' }),
            onStored: (f) => {
              out.event({ event: 'received', ...f });
              if (f.kind === 'file') out.info(`${f.resumedFrom === f.size && f.size > 0 ? 'already here' : 'received'} ${f.storedPath}: ${formatBytes(f.size)}, sha-256 ${f.sha256}`);
            },
          }).catch((error: unknown) => {
            if (error instanceof AuthError) throw new AuthError('the code did not match: a wrong code, or someone else tried this one; ask the sender for a new code');
            throw error;
          }),
        ),
        'run sft receive again with the new code the sender gets (what arrived is kept)',
      );
      const files = result.stored.filter((f) => f.kind === 'file');
      const bytes = files.reduce((n, f) => n + f.size, 0);
      const seconds = (Date.now() - started) / 1000;
      out.event({ event: 'done', files: files.length, bytes, dir: options.output, seconds });
      out.info(`received ${files.length} file(s), ${formatBytes(bytes)} into ${options.output} in ${seconds.toFixed(2)} s; every file verified`);
    });
}
