/**
 * Person to person through a relay (docs/PROTOCOL.md §10): the sender and the receiver each join the relay's room
 * named by the code's nameplate, and once paired run an ordinary sft/2 session over the relayed bytes, the
 * receiver in the server's role (it greets, and stores as an inbox does), the sender in the client's, with the
 * whole code as the shared password. The relay sees the nameplate only; a wrong code fails the PAKE on both sides.
 */
import type { SftError } from '../errors.js';
import { joinRelay, type RelayConnection } from '../relay/client.js';
import { makeCode, splitCode } from '../relay/code.js';
import { SecureClient, type ClientOptions, type SendResult } from './client.js';
import type { SendEntry } from './sender.js';
import { SecureServer, type ReceivedFile } from './server.js';

/** PBKDF2 count of the code's PRS: a code has ~31 bits and a guess costs a round trip, so the count buys nothing. */
const CODE_ITERATIONS = 10_000;
/** The greeting crosses the relay (two legs, maybe long ones): more time than a direct server's 1 s. */
const RELAYED_GREETING_MS = 10_000;
/** How long a peer waits at the relay for the other. */
const DEFAULT_WAIT_MS = 10 * 60 * 1000;

export interface RelayedOptions {
  relay: { host: string; port: number };
  /** How long to wait for the other peer, ms. Default 10 minutes. */
  waitMs?: number;
  signal?: AbortSignal;
}

/** A network error caused by the relay's own room limits is explained as such. */
function explained(error: unknown, joined: RelayConnection): unknown {
  return (error as SftError).code === 'NETWORK' ? (joined.explainCut() ?? error) : error;
}

/**
 * Sends `entries` to whoever joins with the code: the sender's own (`code`), or a new one made from the nameplate
 * the relay allocates, given to `onCode` (to be told to the receiver) before waiting.
 */
export async function sendThroughRelay(
  entries: SendEntry[],
  options: RelayedOptions & { code?: string; onCode?: (code: string) => void; onPaired?: () => void; client?: Partial<ClientOptions> },
): Promise<SendResult & { code: string }> {
  let code = options.code === undefined ? undefined : splitCode(options.code).code;
  const common = { host: options.relay.host, port: options.relay.port, timeoutMs: options.waitMs ?? DEFAULT_WAIT_MS, ...(options.signal === undefined ? {} : { signal: options.signal }) };
  const joined = code === undefined
    ? await joinRelay({ ...common, allocate: true, onWaiting: (nameplate) => options.onCode?.((code = makeCode(nameplate))) })
    : await joinRelay({ ...common, nameplate: splitCode(code).nameplate });
  if (code === undefined) throw new Error('the relay paired without allocating a room');
  options.onPaired?.();
  const client = new SecureClient({ greetingTimeout: RELAYED_GREETING_MS, ...options.client, password: code, host: options.relay.host, port: options.relay.port, connect: async () => joined.socket, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  try {
    return { ...(await client.send(entries)), code };
  } catch (error) {
    throw explained(error, joined);
  }
}

/** Receives into `dir` what the peer with the same code sends, placed as the server places what it receives. */
export async function receiveThroughRelay(code: string, options: RelayedOptions & { dir: string; onPaired?: () => void; onStored?: (file: ReceivedFile) => void }): Promise<{ stored: ReceivedFile[] }> {
  const { code: canonical, nameplate } = splitCode(code);
  const receiver = new SecureServer({ password: canonical, iterations: CODE_ITERATIONS, dir: options.dir, recover: false, maxHandshakes: 1 });
  await receiver.prepare();
  const joined = await joinRelay({ host: options.relay.host, port: options.relay.port, nameplate, timeoutMs: options.waitMs ?? DEFAULT_WAIT_MS, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  options.onPaired?.();
  const stored: ReceivedFile[] = [];
  receiver.on('file', (file) => {
    stored.push(file);
    options.onStored?.(file);
  });
  const abort = () => joined.socket.destroy();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      receiver.once('session-end', () => resolve());
      receiver.once('session-error', (e) => reject(explained(e.error, joined)));
      receiver.handle(joined.socket, { authenticated: () => undefined, closed: () => undefined });
    });
    return { stored };
  } finally {
    options.signal?.removeEventListener('abort', abort);
    await receiver.close(0);
  }
}
