import type { Command } from 'commander';
import { connectClient, notAllDelivered, withRemote, type RemoteOptions } from '../remote.js';
import type { Context } from '../common.js';

interface RmOptions extends RemoteOptions {
  from: string;
}

export function rmCommand(program: Command, ctx: Context): void {
  withRemote(program.command('rm').argument('<remote-path...>', 'files (or empty directories) on the server'), '--from')
    .description('remove files and empty directories on an sft server (accounts with the delete permission)')
    .action(async (paths: string[], options: RmOptions) => {
      const { out } = ctx;
      const { client, done } = await connectClient(ctx, options, options.from, '--from');
      const result = await client.remove(paths).finally(done);
      for (const n of result.notices) out.warn(n.message, { event: 'notice', ...n });
      out.event({ event: 'done', removed: result.removed, failed: result.notices.length });
      out.info(`removed ${result.removed} of ${paths.length}`);
      if (result.notices.length > 0) throw notAllDelivered(result.notices.length, paths.length, 'removed');
    });
}
