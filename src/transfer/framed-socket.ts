import type { Socket } from 'node:net';
import { AuthError, IntegrityError, NetworkError, SftError } from '../errors.js';
import { FrameDecoder, FrameType, frameHeader, type Frame } from '../protocol/frames.js';
import { decodeError } from '../protocol/messages.js';

/** Stop reading from the socket while this many bytes of decoded frames wait to be consumed (after the handshake). */
export const SESSION_HIGH_WATER = 4 * 1024 * 1024;
/** Before the peer has authenticated, buffer next to nothing. */
export const HANDSHAKE_HIGH_WATER = 4 * 1024;

/**
 * Frames over a socket, with backpressure both ways: reading pauses while the consumer is behind, and callers
 * await drained() when send() says the socket's buffer is full.
 */
export class FramedSocket {
  readonly socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #frames: Frame[] = [];
  #queued = 0;
  #ended = false;
  #error: SftError | undefined;
  #wake: (() => void) | undefined;
  /** Read-ahead limit; raise it once the peer is authenticated. */
  highWater: number;

  constructor(socket: Socket, highWater = SESSION_HIGH_WATER) {
    this.socket = socket;
    this.highWater = highWater;
    socket.on('data', (data: Buffer) => {
      try {
        for (const frame of this.#decoder.push(data)) {
          this.#frames.push(frame);
          this.#queued += frame.body.length;
        }
      } catch (error) {
        this.fail(error as SftError);
        return;
      }
      if (this.#queued > this.highWater) socket.pause();
      this.#notify();
    });
    socket.on('end', () => {
      this.#ended = true;
      if (!this.#decoder.atBoundary) this.#error ??= new NetworkError('NETWORK', 'connection closed in the middle of a frame');
      this.#notify();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#error ??= error instanceof SftError ? error : new NetworkError('NETWORK', `connection failed: ${error.code ?? error.message}`, { cause: error });
      this.#notify();
    });
    socket.on('close', () => {
      if (!this.#ended) this.#error ??= new NetworkError('NETWORK', 'connection closed by peer');
      this.#ended = true;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next frame; undefined when the peer ended the stream cleanly. @throws the connection's error. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      const frame = this.#frames.shift();
      if (frame !== undefined) {
        this.#queued -= frame.body.length;
        if (this.#queued < this.highWater / 2 && this.socket.isPaused()) this.socket.resume();
        return frame;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Writes one frame; returns false when the caller should await drained(). */
  send(type: FrameType, pieces: Buffer[]): boolean {
    const length = pieces.reduce((n, p) => n + p.length, 0);
    this.socket.cork();
    let ok = this.socket.write(frameHeader(type, length));
    for (const piece of pieces) ok = this.socket.write(piece);
    this.socket.uncork();
    return ok;
  }

  drained(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        if (this.#error !== undefined || this.socket.destroyed) reject(this.#error ?? new NetworkError('NETWORK', 'connection closed'));
        else resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Fails the connection: pending and later next() calls throw `error`, and the socket is destroyed. */
  fail(error: SftError): void {
    this.#error ??= error;
    this.socket.destroy();
    this.#notify();
  }

  /** Ends our side after everything written has been flushed. */
  end(): Promise<void> {
    return new Promise((resolve) => this.socket.end(resolve));
  }
}

/** The next frame; a peer's Error frame becomes the matching local error; EOF is an error here. */
export async function expectFrame(conn: FramedSocket, what: string): Promise<Frame> {
  const frame = await conn.next();
  if (frame === undefined) throw new NetworkError('NETWORK', `connection closed while waiting for ${what}`);
  if (frame.type === FrameType.Error) throw peerError(frame.body);
  return frame;
}

/** Turns a peer's Error frame into the error of the same family. */
export function peerError(body: Buffer): SftError {
  const { code, message } = decodeError(body);
  const text = `peer: ${message}`;
  switch (code) {
    case 'AUTH_FAILED':
      return new AuthError(`authentication failed (${text})`);
    case 'TAMPERED':
    case 'TRUNCATED':
    case 'MALFORMED':
    case 'HASH_MISMATCH':
    case 'UNSUPPORTED':
      return new IntegrityError(code, text);
    case 'TIMEOUT':
      return new NetworkError('TIMEOUT', text);
    case 'REFUSED':
      return new SftError('REFUSED', text);
    default:
      return new SftError('IO', text);
  }
}

export function asSftError(error: unknown): SftError {
  if (error instanceof SftError) return error;
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return new SftError('IO', 'no space left on the server');
  return new SftError('IO', e?.code ? `${e.syscall ?? 'io'}: ${e.code}` : String(e?.message ?? error));
}

