import type { Command } from 'commander';
import { formatBytes } from '../reporter.js';
import { connectClient, interruptible, notAllDelivered, withRemote, type RemoteOptions } from '../remote.js';
import type { Context } from '../common.js';

interface GetOptions extends RemoteOptions {
  from: string;
  output: string;
}

export function getCommand(program: Command, ctx: Context): void {
  withRemote(program.command('get').argument('<remote-path...>', 'files and directories on the server'), '--from')
    .description('get files and directories from an sft server, verified as send verifies them (run again to resume)')
    .option('-o, --output <dir>', 'local directory to store into (created if missing)', '.')
    .action(async (paths: string[], options: GetOptions) => {
      const { out } = ctx;
      const progress = out.progress('get');
      let received = 0;
      const { client, done } = await connectClient(ctx, options, options.from, '--from', {
        onStored: (s) => {
          out.event({ event: 'received', ...s });
          if (s.kind === 'directory') return;
          received += s.size;
          progress?.update(received, received, s.path);
          const stored = s.storedPath === s.path ? '' : ` (stored as ${s.storedPath})`;
          out.info(`${s.resumedFrom === s.size && s.size > 0 ? 'already here' : 'received'} ${s.path}${stored}: ${formatBytes(s.size)}, sha-256 ${s.sha256}`);
        },
        onNotice: (n) => out.warn(n.message, { event: 'notice', ...n }),
      });
      const started = Date.now();
      const result = await interruptible(client.get(paths, { dir: options.output }), 'run the same command again to resume').finally(done);
      out.stopBars();
      const seconds = (Date.now() - started) / 1000;
      const files = result.stored.filter((s) => s.kind === 'file');
      const bytes = files.reduce((n, s) => n + s.size, 0);
      out.event({ event: 'done', files: files.length, entries: result.stored.length, failed: result.failed.length, notices: result.notices.length, bytes, dir: result.dir, suite: result.suite, seconds });
      out.info(`got ${files.length} file(s), ${formatBytes(bytes)} into ${result.dir} in ${seconds.toFixed(2)} s (${result.suite}); every file verified`);
      for (const f of result.failed) out.warn(`not stored: ${f.path}: ${f.message}`);
      const missing = result.failed.length + result.notices.length;
      if (missing > 0) throw notAllDelivered(missing, result.stored.length + missing, 'received');
    });
}
