import { Option, type Command } from 'commander';
import { MAX_ITERATIONS } from '../../crypto/pbkdf2.js';
import { SUITE_NAMES, type Suite } from '../../protocol/messages.js';
import { SecureClient } from '../../transfer/client.js';
import { defined, parseAddress, password, parseInteger, withCommon, type CommonOptions, type Context } from '../common.js';

interface SendOptions extends CommonOptions {
  to: string;
  suite?: Suite;
  iterations?: number;
}

export function sendCommand(program: Command, ctx: Context): void {
  withCommon(program.command('send').argument('<path...>', 'files and directories to send'))
    .description('send files and directories to an sft server in one session')
    .requiredOption('--to <host[:port]>', 'server address (port 7878 by default)')
    .addOption(new Option('--suite <suite>', 'cipher suite to ask for').choices(SUITE_NAMES))
    .option('--iterations <n>', 'PBKDF2 iterations for the handshake', parseInteger('--iterations', 1, MAX_ITERATIONS))
    .action(async (paths: string[], options: SendOptions) => {
      const { out } = ctx;
      const { host, port } = parseAddress(options.to);
      const files = await SecureClient.collect(paths, (path, why) => out.warn(`skipped ${path} (${why})`));
      const secret = await password(ctx, options, false);
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
}
