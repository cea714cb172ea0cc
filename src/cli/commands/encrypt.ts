import { Option, type Command } from 'commander';
import { MAX_ITERATIONS } from '../../crypto/pbkdf2.js';
import { SecureFileTransfer, type FileFormat } from '../../rest/secure-file-transfer.js';
import { PROGRESS_THRESHOLD, password, parseInteger, withCommon, type CommonOptions, type Context } from '../common.js';
import { passwordStrength } from '../password.js';

interface EncryptOptions extends CommonOptions {
  output?: string;
  format: FileFormat;
  iterations?: number;
  force?: boolean;
}

export function encryptCommand(program: Command, ctx: Context): void {
  withCommon(program.command('encrypt').argument('<file>', 'file to encrypt'))
    .description('encrypt a file with a password')
    .option('-o, --output <file>', 'output file (default: <file>.age or <file>.fernet)')
    .addOption(new Option('--format <format>', 'file format').choices(['age', 'fernet']).default('age'))
    .option('--iterations <n>', 'PBKDF2 iterations for the fernet format', parseInteger('--iterations', 1, MAX_ITERATIONS))
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string, options: EncryptOptions) => {
      const { out } = ctx;
      const secret = await password(ctx, options, true);
      const strength = await passwordStrength(secret);
      if (strength.score < 3) out.warn(`weak password (strength ${strength.score}/4). ${strength.advice}`.trim());
      const output = options.output ?? `${file}.${options.format}`;
      const bar = out.bar(file, 0);
      const result = await SecureFileTransfer.encryptFile(file, output, {
        password: secret,
        format: options.format,
        overwrite: options.force === true,
        ...(options.iterations === undefined ? {} : { iterations: options.iterations }),
        ...(bar === undefined ? {} : { onProgress: (done, total) => total >= PROGRESS_THRESHOLD && bar(done, total) }),
      });
      out.stopBars();
      out.event({ event: 'encrypted', input: file, output, format: result.format, size: result.size });
      out.info(`encrypted ${file} -> ${output} (${result.format}, ${result.size} bytes)`);
    });
}
