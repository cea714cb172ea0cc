import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { FileFormat } from '../../rest/files.js';
import { MAX_FILE_ITERATIONS } from '../../rest/fernet-file.js';
import type { Recipient } from '../../rest/recipients/recipient.js';
import { collect, inputOf, interruptible, passwordWhenNeeded, readKeysFile, STDIO, targetOf } from '../at-rest.js';
import { PROGRESS_THRESHOLD, parseInteger, withCommon, type CommonOptions, type Context } from '../common.js';
import { passwordStrength } from '../password.js';

interface EncryptOptions extends CommonOptions {
  output?: string;
  recipient: string[];
  recipientsFile: string[];
  passphrase?: boolean;
  armor?: boolean;
  format: FileFormat;
  iterations?: number;
  force?: boolean;
}

export function encryptCommand(program: Command, ctx: Context): void {
  withCommon(program.command('encrypt').argument('[file]', 'file to encrypt (default, or "-": standard input)'))
    .description('encrypt a file to recipients (age1…, age1pq1…, ssh-ed25519, ssh-rsa) or with a password (the default)')
    .option('-r, --recipient <recipient>', 'encrypt to this public key (repeatable)', collect, [])
    .option('-R, --recipients-file <file>', 'encrypt to every recipient in this file, one per line (repeatable)', collect, [])
    .option('-p, --passphrase', 'encrypt with a password (the default without -r or -R)')
    .option('-a, --armor', 'write ASCII armor (PEM) instead of binary')
    .option('-o, --output <file>', 'output file, "-" for standard output (default: <file>.age or <file>.fernet; standard output for standard input)')
    .addOption(new Option('--format <format>', 'file format').choices(['age', 'fernet']).default('age'))
    .option('--iterations <n>', 'PBKDF2 iterations for the fernet format', parseInteger('--iterations', 1, MAX_FILE_ITERATIONS))
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string | undefined, options: EncryptOptions) => {
      const { out } = ctx;
      const { input, path } = inputOf(ctx, file);
      const { target, path: outputPath } = targetOf(ctx, options.output ?? (path === undefined ? STDIO : `${path}.${options.format}`), options);
      if (outputPath === undefined && ctx.io.stdout.isTTY === true && options.armor !== true) {
        throw new UsageError('refusing to write binary output to a terminal: use -a for ASCII armor, or -o FILE');
      }
      const recipients = await recipientsOf(ctx, options);
      if (recipients.length > 0 && options.passphrase === true) throw new UsageError('-p cannot be combined with -r or -R');
      const warnIfWeak = async (secret: string) => {
        const strength = await passwordStrength(secret);
        if (strength.score < 3) out.warn(`weak password (strength ${strength.score}/4). ${strength.advice}`.trim());
      };
      const bar = path === undefined ? undefined : out.bar(path);
      const checked: Promise<void>[] = [];
      const { encrypt } = await import('../../rest/files.js');
      const result = await interruptible((signal) =>
        encrypt(input, target, {
          ...(recipients.length > 0 ? { recipients } : { password: passwordWhenNeeded(ctx, options, true, path === undefined, warnIfWeak, checked) }),
          format: options.format,
          armor: options.armor === true,
          overwrite: options.force === true,
          signal,
          ...(options.iterations === undefined ? {} : { iterations: options.iterations }),
          ...(bar === undefined ? {} : { onProgress: (done, total) => total >= PROGRESS_THRESHOLD && bar(done, total) }),
        }),
      );
      await Promise.all(checked);
      out.stopBars();
      const shown = { input: path ?? 'standard input', output: outputPath ?? 'standard output' };
      out.event({ event: 'encrypted', ...shown, format: result.format, size: result.size });
      out.info(`encrypted ${shown.input} -> ${shown.output} (${result.format}${options.armor === true ? ', armored' : ''}, ${result.size} bytes${recipients.length > 0 ? `, ${recipients.length} recipient(s)` : ''})`);
    });
}

async function recipientsOf(ctx: Context, options: EncryptOptions): Promise<Recipient[]> {
  const { parseRecipient, parseRecipientsFile } = await import('../../rest/keys.js');
  const recipients = options.recipient.map((r) => parseRecipient(r, '-r'));
  for (const file of options.recipientsFile) recipients.push(...parseRecipientsFile(await readKeysFile(ctx, file), file));
  return recipients;
}
