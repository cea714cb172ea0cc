import type { Command } from 'commander';
import { SecureClient } from '../../transfer/client.js';
import { formatBytes } from '../reporter.js';
import { connectClient, interruptible, notAllDelivered, withRemote, type RemoteOptions } from '../remote.js';
import type { Context } from '../common.js';

interface SendOptions extends RemoteOptions {
  to: string;
  into?: string;
}

export function sendCommand(program: Command, ctx: Context): void {
  withRemote(program.command('send').argument('<path...>', 'files and directories to send'), '--to')
    .description('send files and directories to an sft server in one session (run again to resume)')
    .option('--into <dir>', 'remote directory to send into (default: the inbox or your home)')
    .action(async (paths: string[], options: SendOptions) => {
      const { out } = ctx;
      const entries = await SecureClient.collect(paths, (path, why) => out.warn(`skipped ${path} (${why})`, { path, reason: why }));
      const progress = out.progress('send');
      const { client, done } = await connectClient(ctx, options, options.to, '--to', {
        onProgress: (p) => progress?.update(p.totalDone, p.totalSize, p.path),
        onDelivered: (d) => {
          out.event({ event: 'delivered', ...d });
          if (d.kind === 'directory') return;
          const stored = d.storedPath === d.path ? '' : ` (stored as ${d.storedPath})`;
          out.info(`${d.skipped ? 'already there' : 'delivered'} ${d.path}${stored}: ${formatBytes(d.size)}, sha-256 ${d.sha256}`);
        },
        onUndelivered: (u, refused) => out.warn(`${refused ? 'refused by the server' : 'not stored'}: ${u.path}: ${u.message}`, { event: refused ? 'refused' : 'failed', ...u }),
      });
      const started = Date.now();
      const result = await interruptible(client.send(entries, options.into === undefined ? {} : { into: options.into }), 'run the same command again to resume').finally(done);
      out.stopBars();
      const seconds = (Date.now() - started) / 1000;
      const files = result.delivered.filter((d) => d.kind === 'file').length;
      out.event({ event: 'done', files, entries: result.delivered.length, refused: result.refused.length, failed: result.failed.length, bytes: result.bytes, sentBytes: result.sentBytes, resumedBytes: result.resumedBytes, suite: result.suite, seconds });
      const resumed = result.resumedBytes > 0 ? ` (${formatBytes(result.resumedBytes)} already on the server)` : '';
      out.info(`sent ${files} file(s), ${formatBytes(result.bytes)}${resumed} in ${seconds.toFixed(2)} s (${result.suite}); every receipt verified`);
      const missing = result.refused.length + result.failed.length;
      if (missing > 0) throw notAllDelivered(missing, entries.length, 'delivered');
    });
}
