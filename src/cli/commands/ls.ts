import type { Command } from 'commander';
import { formatBytes } from '../reporter.js';
import { printable } from '../../util/text.js';
import { connectClient, withRemote, type RemoteOptions } from '../remote.js';
import type { Context } from '../common.js';

interface LsOptions extends RemoteOptions {
  from: string;
}

export function lsCommand(program: Command, ctx: Context): void {
  withRemote(program.command('ls').argument('[remote-dir]', 'directory on the server (default: the top)', ''), '--from')
    .description('list a directory on an sft server: type, size, modification time, name')
    .action(async (path: string, options: LsOptions) => {
      const { out, io } = ctx;
      const { client, done } = await connectClient(ctx, options, options.from, '--from');
      const entries = await client.list(path).finally(done);
      if (out.json) {
        for (const e of entries) out.event({ event: 'entry', name: e.name, type: e.type, size: e.size, mtime: new Date(e.mtimeMs).toISOString() });
        return;
      }
      for (const e of entries) {
        const size = e.type === 'directory' ? '-' : formatBytes(e.size);
        io.stdout.write(`${e.type.padEnd(9)} ${size.padStart(10)}  ${new Date(e.mtimeMs).toISOString().slice(0, 19).replace('T', ' ')}  ${printable(e.name)}${e.type === 'directory' ? '/' : ''}\n`);
      }
    });
}
