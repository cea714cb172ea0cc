/**
 * `sft user add|passwd|remove|list`: the accounts of `sft serve --accounts FILE`, run on the server machine.
 * `--accounts FILE` is required, with no default: a default path would quietly start a second accounts file, with
 * its own server setup, whenever the command runs from another directory.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { AccountStore, checkSettings, nameProblem, PERMISSIONS, type Account, type Permission } from '../../transfer/accounts.js';
import { defined, password, parseSize, withCommon, type CommonOptions, type Context } from '../common.js';
import { passwordStrength } from '../password.js';
import { formatBytes } from '../reporter.js';

interface UserOptions extends CommonOptions {
  accounts: string;
}

interface AddOptions extends UserOptions {
  home?: string;
  can?: Permission[];
  quota?: number;
}

/** `send,get,list` → the permissions, each known, none twice. */
function parseCan(value: string): Permission[] {
  const can = value.split(',').map((p) => p.trim());
  const known = (p: string): p is Permission => (PERMISSIONS as readonly string[]).includes(p);
  if (!can.every(known) || new Set(can).size !== can.length) {
    throw new UsageError(`--can expects a comma-separated list of ${PERMISSIONS.join(', ')}, got "${value}"`);
  }
  return can;
}

function checkName(name: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new UsageError(problem);
}

/** The new password, with the same weak-password warning as encrypt and serve. */
async function newPassword(ctx: Context, options: CommonOptions): Promise<string> {
  const secret = await password(ctx, options, true);
  const strength = await passwordStrength(secret);
  if (strength.score < 3) ctx.out.warn(`weak password (strength ${strength.score}/4). ${strength.advice}`.trim());
  return secret;
}

function describeAccount(account: Omit<Account, 'record'>): string {
  const quota = account.quota === undefined ? 'none' : formatBytes(account.quota);
  return `home ${account.home}, can ${account.can.join(',') || 'nothing'}, quota ${quota}`;
}

function summary(account: Account) {
  return { name: account.name, home: account.home, can: account.can, ...(account.quota === undefined ? {} : { quota: account.quota }) };
}

function withAccounts(command: Command): Command {
  return command.requiredOption('--accounts <file>', 'the accounts file of sft serve --accounts (required)');
}

export function userCommand(program: Command, ctx: Context): void {
  const { out } = ctx;
  const user = program.command('user').description('manage the accounts of sft serve --accounts (on the server machine)');

  withCommon(withAccounts(user.command('add').argument('<name>', 'user name: a-z 0-9 _ . -, at most 32')))
    .description('add a user; creates the accounts file if needed')
    .option('--home <dir>', 'home directory, relative to the served root or absolute (default: the name)')
    .option('--can <list>', `what the user may do, comma-separated: ${PERMISSIONS.join(',')} (default send,get,list)`, parseCan)
    .option('--quota <size>', 'most bytes the user may keep, e.g. 10G (default: no quota)', parseSize('--quota'))
    .action(async (name: string, options: AddOptions) => {
      // Checked before the prompt and before a new file is created for an add that cannot succeed.
      const settings = defined({ home: options.home, can: options.can, quota: options.quota });
      checkSettings(name, settings);
      const secret = await newPassword(ctx, options);
      const store = await AccountStore.open(options.accounts, { create: true });
      if (store.created) {
        out.event({ event: 'accounts-created', accounts: store.file });
        out.info(`created accounts file ${store.file}`);
      }
      const account = await store.add(name, secret, settings);
      out.event({ event: 'user-added', accounts: store.file, ...summary(account) });
      out.info(`added user ${name} (${describeAccount(account)}) to ${store.file}`);
    });

  withCommon(withAccounts(user.command('passwd').argument('<name>', 'user name')))
    .description("change a user's password")
    .action(async (name: string, options: UserOptions) => {
      checkName(name);
      const store = await AccountStore.open(options.accounts);
      if (store.lookup(name) === undefined) throw new UsageError(`no user "${name}" in ${store.file}`);
      await store.passwd(name, await newPassword(ctx, options));
      out.event({ event: 'user-password-changed', accounts: store.file, name });
      out.info(`changed the password of ${name} in ${store.file}`);
    });

  withAccounts(user.command('remove').argument('<name>', 'user name'))
    .description('remove a user (the files under its home stay)')
    .option('--json', 'machine-readable output: one JSON object per line on stdout')
    .option('--debug', 'print stack traces on errors')
    .action(async (name: string, options: UserOptions) => {
      checkName(name);
      const store = await AccountStore.open(options.accounts);
      await store.remove(name);
      out.event({ event: 'user-removed', accounts: store.file, name });
      out.info(`removed user ${name} from ${store.file} (files under its home are kept)`);
    });

  withAccounts(user.command('list'))
    .description('list the users: name, home, permissions, quota')
    .option('--json', 'one JSON object per user on stdout')
    .option('--debug', 'print stack traces on errors')
    .action(async (options: UserOptions) => {
      const store = await AccountStore.open(options.accounts);
      const accounts = store.list();
      for (const account of accounts) {
        out.event({ event: 'user', ...summary(account) });
        if (!out.json) ctx.io.stdout.write(`${account.name}\t${describeAccount(account)}\n`);
      }
      if (accounts.length === 0) out.info(`no users in ${store.file}`);
    });
}
