/** What send, get, ls and rm share: the server address and account, the password, Ctrl-C, the end-of-run summary. */
import { InterruptedError, SftError } from '../errors.js';
import { SUITE_NAMES, type Suite } from '../protocol/suites.js';
import type { ClientOptions, SecureClient } from '../transfer/client.js';
import { password, parseRemote, withCommon, type CommonOptions, type Context } from './common.js';
import { Option, type Command } from 'commander';

export interface RemoteOptions extends CommonOptions {
  suite?: Suite;
}

/** The options every command that talks to a server takes (send's --to is optional: without it, a relay). */
export function withRemote(command: Command, flag: '--to' | '--from'): Command {
  const description = 'the server, with the account name when it has accounts (port 7878 by default)';
  return withCommon(command)
    .addOption(flag === '--to' ? new Option(`${flag} <[user@]host[:port]>`, `${description}; without it, through a relay to a person`) : new Option(`${flag} <[user@]host[:port]>`, description).makeOptionMandatory())
    .addOption(new Option('--suite <suite>', 'cipher suite to ask for').choices(SUITE_NAMES));
}

/** A signal that fires on SIGINT/SIGTERM while `work` runs (the library then ends with InterruptedError). */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/**
 * A client for `remote`, with the password read as configured and a signal that fires on SIGINT/SIGTERM (the
 * command then ends with InterruptedError, exit 130).
 */
export async function connectClient(
  ctx: Context,
  options: RemoteOptions,
  remote: string,
  flag: string,
  hooks: Partial<ClientOptions> = {},
): Promise<{ client: SecureClient; done: () => void }> {
  const { account, host, port } = parseRemote(remote, flag);
  const secret = await password(ctx, options, false);
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const { SecureClient } = await import('../transfer/client.js');
  const client = new SecureClient({
    password: secret,
    host,
    port,
    signal: controller.signal,
    ...(account === undefined ? {} : { account }),
    ...(options.suite === undefined ? {} : { suites: [options.suite] }),
    ...hooks,
  });
  return {
    client,
    done: () => {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    },
  };
}

/** Runs `work`, turning an interruption into the message that says how to go on. */
export async function interruptible<T>(work: Promise<T>, resumeHint: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof InterruptedError) throw new InterruptedError(`interrupted; ${resumeHint}`);
    throw error;
  }
}

/** The error a run ends with when some entries were refused or failed (each was reported as it happened). */
export function notAllDelivered(missing: number, total: number, verb: string): SftError {
  return new SftError('REFUSED', `${missing} of ${total} entries were not ${verb} (see the warnings above)`);
}
