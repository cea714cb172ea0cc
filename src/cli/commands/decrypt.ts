import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { SecureFileTransfer } from '../../rest/secure-file-transfer.js';
import { PROGRESS_THRESHOLD, password, withCommon, type CommonOptions, type Context } from '../common.js';

interface DecryptOptions extends CommonOptions {
  output?: string;
  force?: boolean;
}

function defaultOutput(input: string): string {
  const match = /^(.+)\.(age|fernet)$/.exec(input);
  if (match?.[1] === undefined) throw new UsageError(`cannot name the output for ${input}: pass -o <file>`);
  return match[1];
}

export function decryptCommand(program: Command, ctx: Context): void {
  withCommon(program.command('decrypt').argument('<file>', 'file to decrypt (age or fernet, detected)'))
    .description('decrypt and verify a file; nothing is written unless every check passes')
    .option('-o, --output <file>', 'output file (default: <file> without .age or .fernet)')
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string, options: DecryptOptions) => {
      const { out } = ctx;
      const output = options.output ?? defaultOutput(file);
      const secret = await password(ctx, options, false);
      const bar = out.bar(file, 0);
      const result = await SecureFileTransfer.decryptFile(file, output, {
        password: secret,
        overwrite: options.force === true,
        ...(bar === undefined ? {} : { onProgress: (done, total) => total >= PROGRESS_THRESHOLD && bar(done, total) }),
      });
      out.stopBars();
      out.event({ event: 'decrypted', input: file, output, format: result.format, size: result.size, ...(result.sha256 ? { sha256: result.sha256 } : {}) });
      out.info(`decrypted ${file} -> ${output} (${result.format}, ${result.size} bytes${result.sha256 ? `, sha-256 ${result.sha256} verified` : ', authenticated'})`);
    });
}
