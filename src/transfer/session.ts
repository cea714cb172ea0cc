/**
 * An authenticated session over a connection: control frames sealed and opened in order, content frames passed
 * through, and the peer's (sealed) errors turned into local ones.
 */
import { AuthError, IntegrityError, NetworkError, SftError } from '../errors.js';
import { FrameType, SESSION_FRAMES, Frame } from '../protocol/frames.js';
import { ControlChannel } from '../protocol/channel.js';
import { fileKeys, type SessionKeys } from '../protocol/handshake.js';
import { decodeError, encodeError } from '../protocol/messages.js';
import { printable } from '../util/text.js';
import { actionWords, errnoCode, errnoWords } from '../util/fs-errors.js';
import type { Connection } from './connection.js';

export type Role = 'client' | 'server';
export type Direction = 'c2s' | 's2c';

const CONTENT = new Set<FrameType>([FrameType.Chunk, FrameType.FinalChunk]);

export class Session {
  readonly #control: ControlChannel;
  readonly #fileKeys: (direction: Direction, index: number) => Buffer;

  constructor(
    readonly conn: Connection,
    readonly keys: SessionKeys,
    readonly role: Role,
  ) {
    const [send, receive] = role === 'client' ? [keys.clientToServer, keys.serverToClient] : [keys.serverToClient, keys.clientToServer];
    this.#control = new ControlChannel(keys.suite, send, receive);
    this.#fileKeys = fileKeys(keys);
    conn.authenticated(SESSION_FRAMES);
  }

  /** The direction this side sends in. */
  get outgoing(): Direction {
    return this.role === 'client' ? 'c2s' : 's2c';
  }

  get incoming(): Direction {
    return this.role === 'client' ? 's2c' : 'c2s';
  }

  /** Seals and sends a control frame; false when the caller should await drained(). */
  send(type: FrameType, body: Buffer): boolean {
    return this.conn.send(type, [this.#control.seal(type, body)]);
  }

  /** Sends a content frame (already sealed under a file key). */
  sendContent(type: FrameType, pieces: readonly Buffer[]): boolean {
    return this.conn.send(type, pieces);
  }

  drained(): Promise<void> {
    return this.conn.drained();
  }

  /**
   * The next frame: a control frame comes back opened (its body is the plaintext), a content frame as it is.
   * @throws the peer's error (sealed, so authentic), NetworkError at end of stream, IntegrityError TAMPERED.
   */
  async next(what: string): Promise<Frame> {
    const frame = await this.conn.expect(what);
    if (CONTENT.has(frame.type)) return frame;
    if (frame.type === FrameType.Error) throw unauthenticatedError(frame.body);
    const body = this.#control.open(frame.type, frame.body);
    if (frame.type === FrameType.SealedError) throw peerError(body, this.role === 'client' ? 'the server' : 'the client');
    return Frame.of(frame.type, body);
  }

  /**
   * Tells the peer why the session ends (sealed), then closes gracefully: the peer may still be sending, and a
   * socket closed with unread data is reset, which can destroy the error before the peer reads it (a relay in
   * between passes the reset on). So: end our side, drop what still arrives, and wait up to a second for the peer.
   */
  async fail(error: SftError): Promise<void> {
    const { socket } = this.conn;
    if (socket.destroyed) return;
    this.send(FrameType.SealedError, encodeError({ code: error.code, message: error.message }));
    socket.removeAllListeners('data');
    socket.on('data', () => undefined);
    socket.resume();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  fileKey(direction: Direction, index: number): Buffer {
    return this.#fileKeys(direction, index);
  }
}

/**
 * An unsealed Error after the handshake: the peer could not verify this side's finish, or anyone on the path wrote
 * it. Either way it proves nothing, so it ends the session as a cut connection would (partials are kept).
 */
function unauthenticatedError(body: Buffer): NetworkError {
  const { code } = decodeError(body);
  const why = code === 'AUTH_FAILED' ? 'the peer could not verify the handshake (altered on the way?)' : `code ${printable(code, 32)}`;
  return new NetworkError('NETWORK', `the connection was ended by an unauthenticated error: ${why}`);
}

/** An authenticated Error from the peer becomes the error of the same family, its text made printable. */
export function peerError(body: Buffer, peer: string): SftError {
  const { code, message } = decodeError(body);
  const text = `${peer} reported: ${printable(message)}`;
  switch (code) {
    case 'AUTH_FAILED':
      return new AuthError(text);
    case 'TAMPERED':
    case 'TRUNCATED':
    case 'MALFORMED':
    case 'HASH_MISMATCH':
    case 'UNSUPPORTED':
      return new IntegrityError(code, text);
    case 'TIMEOUT':
    case 'NETWORK':
      return new NetworkError(code, text);
    case 'REFUSED':
    case 'IO':
      return new SftError(code, text);
    default:
      return new SftError('IO', text);
  }
}

/** Anything thrown, as an SftError (errno codes in words). */
export function asSftError(error: unknown): SftError {
  if (error instanceof SftError) return error;
  const e = error as NodeJS.ErrnoException;
  // Said to the peer too: the action and the reason in words, never this machine's paths.
  if (errnoCode(error) !== undefined) return new SftError('IO', `could not ${actionWords(error)} a file: ${errnoWords(error)}`, { cause: error });
  return new SftError('INTERNAL', String(e?.message ?? error));
}
