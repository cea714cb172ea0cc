import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { Identity } from '../../rest/recipients/recipient.js';
import { collect, inputOf, interruptible, passwordWhenNeeded, readKeysFile, STDIO, targetOf } from '../at-rest.js';
import { PROGRESS_THRESHOLD, withCommon, type CommonOptions, type Context } from '../common.js';

interface DecryptOptions extends CommonOptions {
  output?: string;
  identity: string[];
  force?: boolean;
}

function defaultOutput(input: string): string {
  const match = /^(.+)\.(age|fernet)$/.exec(input);
  if (match?.[1] === undefined) throw new UsageError(`cannot name the output for ${input}: pass -o <file> (or -o - for standard output)`);
  return match[1];
}

export function decryptCommand(program: Command, ctx: Context): void {
  withCommon(program.command('decrypt').argument('[file]', 'file to decrypt: age, armored age or fernet, detected (default, or "-": standard input)'))
    .description('decrypt and verify a file; to a file, nothing is written unless every check passes')
    .option('-i, --identity <file>', 'decrypt with the identities in this file: age keys (sft keygen) or an unencrypted ssh private key (repeatable)', collect, [])
    .option('-o, --output <file>', 'output file, "-" for standard output (default: <file> without .age or .fernet; standard output for standard input)')
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string | undefined, options: DecryptOptions) => {
      const { out } = ctx;
      const { input, path } = inputOf(ctx, file);
      const { target, path: outputPath } = targetOf(ctx, options.output ?? (path === undefined ? STDIO : defaultOutput(path)), options);
      const identities: Identity[] = [];
      const { parseIdentitiesFile } = await import('../../rest/keys.js');
      for (const name of options.identity) identities.push(...parseIdentitiesFile(await readKeysFile(ctx, name), name));
      const bar = path === undefined ? undefined : out.bar(path);
      const { decrypt } = await import('../../rest/files.js');
      const result = await interruptible((signal) =>
        decrypt(input, target, {
          identities,
          password: passwordWhenNeeded(ctx, options, false, path === undefined),
          overwrite: options.force === true,
          signal,
          ...(bar === undefined ? {} : { onProgress: (done, total) => total >= PROGRESS_THRESHOLD && bar(done, total) }),
        }),
      );
      out.stopBars();
      const shown = { input: path ?? 'standard input', output: outputPath ?? 'standard output' };
      out.event({ event: 'decrypted', ...shown, format: result.format, size: result.size, ...(result.sha256 ? { sha256: result.sha256 } : {}) });
      out.info(`decrypted ${shown.input} -> ${shown.output} (${result.format}, ${result.size} bytes${result.sha256 ? `, sha-256 ${result.sha256} verified` : ', authenticated'})`);
    });
}
