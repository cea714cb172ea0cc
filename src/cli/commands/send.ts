import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { ClientOptions, SendResult } from '../../transfer/client.js';
import type { SendEntry } from '../../transfer/sender.js';
import { relayAddress } from '../config.js';
import { formatBytes, type Progress, type Reporter } from '../reporter.js';
import { connectClient, interruptible, notAllDelivered, withInterrupt, withRemote, type RemoteOptions } from '../remote.js';
import type { Context } from '../common.js';

interface SendOptions extends RemoteOptions {
  to?: string;
  into?: string;
  relay?: string;
  code?: string;
}

/** What both ways of sending report as they go: progress, each delivery, each refusal. */
function sendHooks(out: Reporter, progress: Progress | undefined): Partial<ClientOptions> {
  return {
    onProgress: (p) => progress?.update(p.totalDone, p.totalSize, p.path),
    onDelivered: (d) => {
      out.event({ event: 'delivered', ...d });
      if (d.kind === 'directory') return;
      const stored = d.storedPath === d.path ? '' : ` (stored as ${d.storedPath})`;
      out.info(`${d.skipped ? 'already there' : 'delivered'} ${d.path}${stored}: ${formatBytes(d.size)}, sha-256 ${d.sha256}`);
    },
    onUndelivered: (u, refused) => out.warn(`${refused ? 'refused by the receiver' : 'not stored'}: ${u.path}: ${u.message}`, { event: refused ? 'refused' : 'failed', ...u }),
  };
}

function summary(out: Reporter, result: SendResult, entries: SendEntry[], seconds: number, path: string): void {
  const files = result.delivered.filter((d) => d.kind === 'file').length;
  out.event({ event: 'done', files, entries: result.delivered.length, refused: result.refused.length, failed: result.failed.length, bytes: result.bytes, sentBytes: result.sentBytes, resumedBytes: result.resumedBytes, suite: result.suite, path, seconds });
  const resumed = result.resumedBytes > 0 ? ` (${formatBytes(result.resumedBytes)} already there)` : '';
  const deliveredBytes = result.delivered.reduce((sum, d) => sum + d.size, 0);
  out.info(`sent ${files} file(s), ${formatBytes(deliveredBytes)}${resumed} in ${seconds.toFixed(2)} s (${result.suite}, ${path}); every receipt verified`);
  const missing = result.refused.length + result.failed.length;
  if (missing > 0) throw notAllDelivered(missing, entries.length, 'delivered');
}

export function sendCommand(program: Command, ctx: Context): void {
  withRemote(program.command('send').argument('<path...>', 'files and directories to send'), '--to')
    .description('send files and directories to an sft server (--to), or to a person through a relay with a short code; run again to resume')
    .option('--into <dir>', 'with --to: remote directory to send into (default: the inbox or your home)')
    .option('--relay <host[:port]>', `without --to: the relay (else SFT_RELAY, else the config file; port 7879 by default)`)
    .option('--code <code>', 'without --to: use this code instead of a new one (e.g. 7-acorn-jolly-pasta)')
    .action(async (paths: string[], options: SendOptions) => {
      const { out } = ctx;
      if (options.to === undefined && options.into !== undefined) throw new UsageError('--into needs --to (a person receiving through a relay chooses where with -o)');
      if (options.to !== undefined && (options.relay !== undefined || options.code !== undefined)) throw new UsageError('--relay and --code are for sending to a person, without --to');
      const { SecureClient } = await import('../../transfer/client.js');
      const entries = await SecureClient.collect(paths, (path, why) => out.warn(`skipped ${path} (${why})`, { path, reason: why }));
      const started = Date.now();
      const resume = 'run the same command again to resume';
      if (options.to !== undefined) {
        const progress = out.progress('send');
        const { client, done } = await connectClient(ctx, options, options.to, '--to', sendHooks(out, progress));
        const result = await interruptible(client.send(entries, options.into === undefined ? {} : { into: options.into }), resume).finally(done);
        out.stopBars();
        return summary(out, result, entries, (Date.now() - started) / 1000, 'direct');
      }
      const relay = await relayAddress(options.relay, ctx.io.env);
      const { sendThroughRelay } = await import('../../transfer/relayed.js');
      const progress = out.progress('send');
      const result = await interruptible(
        withInterrupt((signal) =>
          sendThroughRelay(entries, {
            relay,
            signal,
            ...(options.code === undefined ? {} : { code: options.code }),
            client: { ...sendHooks(out, progress), ...(options.suite === undefined ? {} : { suites: [options.suite] }) },
            onCode: (code) => {
              out.event({ event: 'code', code, relay: `${relay.host}:${relay.port}` });
              out.info(`code: ${code}\non the other machine run:  sft receive ${code}\nwaiting for the receiver (up to 10 minutes)…`);
            },
            onPaired: () => out.event({ event: 'paired' }),
          }),
        ),
        `${resume} (with a new code: the receiver keeps what arrived)`,
      );
      out.stopBars();
      summary(out, result, entries, (Date.now() - started) / 1000, `through the relay ${relay.host}:${relay.port}`);
    });
}
