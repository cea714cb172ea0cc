import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { SftError, UsageError } from '../../errors.js';
import { errnoCode, fileError } from '../../util/fs-errors.js';
import { readKeysFile, STDIO } from '../at-rest.js';
import type { Context } from '../common.js';

interface KeygenOptions {
  output?: string;
  pq?: boolean;
  y?: boolean;
}

export function keygenCommand(program: Command, ctx: Context): void {
  program
    .command('keygen')
    .argument('[input]', 'with -y: the identity file to read (default, or "-": standard input)')
    .description('make an age identity (a secret key; its public key is printed), or with -y print the public key of one')
    .option('-o, --output <file>', 'write the identity to this new file, mode 0600 (default: standard output)')
    .option('--pq', 'a post-quantum identity (ML-KEM-768 + X25519, AGE-SECRET-KEY-PQ-1…) instead of X25519')
    .option('-y', 'print the recipient (public key) of each identity in the input, one per line')
    .action(async (input: string | undefined, options: KeygenOptions) => {
      if (options.y === true) return printRecipients(ctx, input ?? STDIO, options);
      if (input !== undefined) throw new UsageError('keygen takes no argument without -y');
      const { formatIdentityFile, generateIdentity, identityToRecipient } = await import('../../rest/keys.js');
      const identity = generateIdentity({ postQuantum: options.pq === true });
      const text = formatIdentityFile(identity);
      const recipient = identityToRecipient(identity);
      if (options.output === undefined || options.output === STDIO) {
        ctx.io.stdout.write(text);
        if (ctx.io.stdout.isTTY !== true) ctx.io.stderr.write(`Public key: ${recipient}\n`);
        return;
      }
      await writeNewSecret(options.output, text);
      ctx.io.stderr.write(`Public key: ${recipient}\n`);
    });
}

/** Creates `path` with mode 0600, refusing to replace anything (a lost secret key cannot be recovered). */
async function writeNewSecret(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600).catch((error: unknown) => {
    throw errnoCode(error) === 'EEXIST' ? new SftError('IO', `output exists: ${path} (keygen never replaces a key file)`) : fileError(error, 'write', path);
  });
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

async function printRecipients(ctx: Context, input: string, options: KeygenOptions): Promise<void> {
  if (options.output !== undefined || options.pq === true) throw new UsageError('-y takes no -o or --pq');
  const name = input === STDIO ? 'standard input' : input;
  const text = await readKeysFile(ctx, input);
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const { identityToRecipient, parseIdentitiesFile } = await import('../../rest/keys.js');
  parseIdentitiesFile(text, name);
  for (const line of lines) ctx.io.stdout.write(`${identityToRecipient(line)}\n`);
}
