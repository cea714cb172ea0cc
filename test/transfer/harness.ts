import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { connect } from 'node:net';
import { SecureClient, SecureServer, type ClientOptions, type ServerOptions } from '../../src/index.js';
import { FrameType } from '../../src/protocol/frames.js';
import { clientFinish, clientStart } from '../../src/protocol/handshake.js';
import { decodeError, decodeServerHello, encodeFileHeader } from '../../src/protocol/messages.js';
import { ControlChannel, controlAead } from '../../src/protocol/channel.js';
import { FramedSocket } from '../../src/transfer/framed-socket.js';
import { tempDir } from '../helpers.js';

export const ITERATIONS = 1000;

export interface Running {
  server: SecureServer;
  port: number;
  inbox: string;
  errors: { code: string; message: string }[];
  close: () => Promise<void>;
}

/** A server on a free loopback port with test-sized PBKDF2 bounds. */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<Running> {
  const inbox = join(tempDir('sft-inbox-'), 'inbox');
  const server = new SecureServer({ password: 'pw', dir: inbox, port: 0, minIterations: ITERATIONS, ...options });
  const errors: { code: string; message: string }[] = [];
  server.on('session-error', (e) => errors.push(e));
  const { port } = await server.listen();
  return { server, port, inbox: server.dir, errors, close: () => server.close(1000) };
}

export function client(port: number, options: Partial<ClientOptions> = {}): SecureClient {
  return new SecureClient({ password: 'pw', host: '127.0.0.1', port, iterations: ITERATIONS, ...options });
}

export async function sendPaths(port: number, paths: string[], options: Partial<ClientOptions> = {}) {
  return client(port, options).send(await SecureClient.collect(paths));
}

/** Every regular file under `root` (relative path → sha-256), the hidden partial folder listed separately. */
export function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** Files received (outside the hidden partial folder) and files left in the partial folder. */
export function inboxState(inbox: string): { received: string[]; partial: string[] } {
  const all = Object.keys(tree(inbox));
  return { received: all.filter((p) => !p.startsWith('.sft-partial/')).sort(), partial: all.filter((p) => p.startsWith('.sft-partial/')) };
}

export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A test-only client speaking the protocol directly: completes the handshake, announces one file with any name
 * and size, and returns the server's Error frame.
 */
export async function announceFile(port: number, path: string, size = 1, localAddress?: string): Promise<{ code: string; message: string }> {
  const socket = connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) });
  await new Promise((r) => socket.once('connect', r));
  const conn = new FramedSocket(socket);
  const state = await clientStart('pw', { suites: ['aes-256-gcm'], iterations: ITERATIONS });
  conn.send(FrameType.ClientHello, [state.helloBody]);
  const hello = await conn.next();
  const { keys, clientConfirm } = clientFinish(state, decodeServerHello(hello?.body ?? Buffer.alloc(0)));
  conn.send(FrameType.ClientConfirm, [clientConfirm]);
  const control = new ControlChannel(controlAead(keys.suite), keys.clientToServer, keys.serverToClient);
  conn.send(FrameType.FileHeader, [control.seal(FrameType.FileHeader, encodeFileHeader({ index: 0, path, size, mode: 0o644, mtimeMs: 0 }))]);
  const reply = await conn.next();
  socket.destroy();
  if (reply?.type !== FrameType.Error) throw new Error(`expected an error frame, got ${reply?.type}`);
  return decodeError(reply.body);
}
