/**
 * The relay protocol on the wire (docs/PROTOCOL.md §10.2): a few small frames before pairing, none after.
 *
 *   frame = type (u8) ‖ length (u16 BE, counts the body) ‖ body
 *
 * A peer sends one HELLO; the relay answers WAITING (you are first; here is your nameplate), then PAIRED, or
 * ERROR and closes. After PAIRED every byte is the partner's. Pure encoders and an incremental decoder fed any
 * split; every length is checked against its type's cap before the body is awaited.
 */
import { IntegrityError } from '../errors.js';
import { ByteQueue } from '../util/byte-queue.js';

export const RELAY_VERSION = 1;
/** The first bytes of every HELLO body, whatever the version: a relay can tell an sft peer from anything else. */
export const MAGIC = Buffer.from('SFTRELAY', 'ascii');

export const RelayFrame = { Hello: 0x01, Waiting: 0x02, Paired: 0x03, Error: 0x7f } as const;
export type RelayFrame = (typeof RelayFrame)[keyof typeof RelayFrame];

const HEADER = 3;
const MAX_BODY: Record<RelayFrame, number> = {
  [RelayFrame.Hello]: 64,
  [RelayFrame.Waiting]: 4,
  [RelayFrame.Paired]: 64,
  [RelayFrame.Error]: 1 + 200,
};
/** The largest frame either side may have to hold. */
export const MAX_FRAME = HEADER + Math.max(...Object.values(MAX_BODY));
const MAX_ERROR_TEXT = MAX_BODY[RelayFrame.Error] - 1;

/** Why the relay refused or ended a peer before pairing: the ERROR frame's code byte. */
export const RelayErrorCode = {
  BadHello: 1,
  UnsupportedVersion: 2,
  RoomFull: 3,
  Busy: 4,
  SourceLimit: 5,
  WaitTimeout: 6,
  SentBeforePaired: 7,
  HelloTimeout: 8,
  ShuttingDown: 9,
} as const;
export type RelayErrorCode = (typeof RelayErrorCode)[keyof typeof RelayErrorCode];
export const RELAY_ERROR_NAMES: Record<RelayErrorCode, string> = {
  1: 'BAD_HELLO',
  2: 'UNSUPPORTED_VERSION',
  3: 'ROOM_FULL',
  4: 'BUSY',
  5: 'SOURCE_LIMIT',
  6: 'WAIT_TIMEOUT',
  7: 'SENT_BEFORE_PAIRED',
  8: 'HELLO_TIMEOUT',
  9: 'SHUTTING_DOWN',
};

/** Limits of a paired room, sent in PAIRED so a peer can explain a cut. 0 means no limit. */
export interface RoomLimits {
  /** Bytes the relay forwards in one room, both directions together. */
  maxBytes: number;
  /** Rate in bytes per second, both directions together (the relay slows down; it does not cut). */
  rate: number;
  /** Longest life of a paired room, ms. */
  lifetimeMs: number;
  /** A room with no byte either way for this long is closed, ms. */
  idleMs: number;
  /** After one side closes, the other is closed this much later, ms. */
  halfOpenGraceMs: number;
}

export type Hello =
  | { type: 'hello'; version: typeof RELAY_VERSION; mode: 'allocate' }
  | { type: 'hello'; version: typeof RELAY_VERSION; mode: 'claim'; nameplate: number };
/** A HELLO whose version this relay does not speak: it is answered UNSUPPORTED_VERSION. */
export interface ForeignHello {
  type: 'hello';
  version: number;
  mode: 'unknown';
}
export type RelayMessage =
  | Hello
  | ForeignHello
  | { type: 'waiting'; nameplate: number }
  | { type: 'paired'; limits: RoomLimits }
  | { type: 'error'; code: number; message: string };

const MODE_ALLOCATE = 1;
const MODE_CLAIM = 2;
const HELLO_V1 = MAGIC.length + 1 + 1 + 4;
const PAIRED_V1 = 8 + 8 + 4 + 4 + 4;

function frame(type: RelayFrame, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER);
  header[0] = type;
  header.writeUInt16BE(body.length, 1);
  return Buffer.concat([header, body]);
}

export function encodeHello(hello: { mode: 'allocate' } | { mode: 'claim'; nameplate: number }): Buffer {
  const body = Buffer.alloc(HELLO_V1);
  MAGIC.copy(body, 0);
  body[MAGIC.length] = RELAY_VERSION;
  body[MAGIC.length + 1] = hello.mode === 'allocate' ? MODE_ALLOCATE : MODE_CLAIM;
  body.writeUInt32BE(hello.mode === 'claim' ? hello.nameplate : 0, MAGIC.length + 2);
  return frame(RelayFrame.Hello, body);
}

export function encodeWaiting(nameplate: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(nameplate);
  return frame(RelayFrame.Waiting, body);
}

export function encodePaired(limits: RoomLimits): Buffer {
  const body = Buffer.alloc(PAIRED_V1);
  body.writeBigUInt64BE(BigInt(limits.maxBytes), 0);
  body.writeBigUInt64BE(BigInt(limits.rate), 8);
  body.writeUInt32BE(limits.lifetimeMs, 16);
  body.writeUInt32BE(limits.idleMs, 20);
  body.writeUInt32BE(limits.halfOpenGraceMs, 24);
  return frame(RelayFrame.Paired, body);
}

/** An ERROR frame; a message longer than 200 bytes of UTF-8 is cut at a character boundary. */
export function encodeError(code: RelayErrorCode, message: string): Buffer {
  let text = Buffer.from(message, 'utf8');
  if (text.length > MAX_ERROR_TEXT) text = Buffer.from(new TextDecoder().decode(text.subarray(0, MAX_ERROR_TEXT)).replace(/\uFFFD$/u, ''), 'utf8');
  return frame(RelayFrame.Error, Buffer.concat([Buffer.of(code), text]));
}

function malformed(message: string): IntegrityError {
  return new IntegrityError('MALFORMED', `relay protocol: ${message}`);
}

function decodeHello(body: Buffer): Hello | ForeignHello {
  if (body.length < MAGIC.length + 1 || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw malformed('HELLO without the SFTRELAY magic');
  const version = body[MAGIC.length] as number;
  if (version !== RELAY_VERSION) return { type: 'hello', version, mode: 'unknown' };
  if (body.length !== HELLO_V1) throw malformed(`HELLO body of ${body.length} bytes, expected ${HELLO_V1}`);
  const mode = body[MAGIC.length + 1];
  const nameplate = body.readUInt32BE(MAGIC.length + 2);
  if (mode === MODE_ALLOCATE && nameplate === 0) return { type: 'hello', version, mode: 'allocate' };
  if (mode === MODE_CLAIM && nameplate !== 0) return { type: 'hello', version, mode: 'claim', nameplate };
  throw malformed(`HELLO with mode ${String(mode)} and nameplate ${nameplate}`);
}

function decodeWaiting(body: Buffer): RelayMessage {
  if (body.length !== 4) throw malformed(`WAITING body of ${body.length} bytes, expected 4`);
  const nameplate = body.readUInt32BE(0);
  if (nameplate === 0) throw malformed('WAITING with nameplate 0');
  return { type: 'waiting', nameplate };
}

function decodePaired(body: Buffer): RelayMessage {
  if (body.length !== PAIRED_V1) throw malformed(`PAIRED body of ${body.length} bytes, expected ${PAIRED_V1}`);
  const big = (offset: number, field: string): number => {
    const v = body.readBigUInt64BE(offset);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`PAIRED "${field}" too large`);
    return Number(v);
  };
  return {
    type: 'paired',
    limits: {
      maxBytes: big(0, 'maxBytes'),
      rate: big(8, 'rate'),
      lifetimeMs: body.readUInt32BE(16),
      idleMs: body.readUInt32BE(20),
      halfOpenGraceMs: body.readUInt32BE(24),
    },
  };
}

function decodeError(body: Buffer): RelayMessage {
  if (body.length < 1) throw malformed('ERROR without a code');
  const text = body.subarray(1);
  const message = text.toString('utf8');
  if (!Buffer.from(message, 'utf8').equals(text)) throw malformed('ERROR message is not valid UTF-8');
  return { type: 'error', code: body[0] as number, message };
}

/**
 * Incremental decoder for one side. `side` is who decodes: the relay accepts only HELLO, a peer only WAITING,
 * PAIRED and ERROR. Pull messages one at a time with next(); after the last one a side wants (HELLO for the
 * relay, PAIRED for a peer) takeRest() returns what followed it, which is no longer protocol.
 */
export class RelayDecoder {
  readonly #queue = new ByteQueue();
  readonly #accepted: ReadonlySet<number>;
  #header: { type: RelayFrame; length: number } | undefined;

  constructor(side: 'relay' | 'peer') {
    this.#accepted = new Set(side === 'relay' ? [RelayFrame.Hello] : [RelayFrame.Waiting, RelayFrame.Paired, RelayFrame.Error]);
  }

  /** Bytes held and not yet returned. */
  get buffered(): number {
    return this.#queue.length;
  }

  push(data: Buffer): void {
    this.#queue.push(data);
  }

  /**
   * The next whole message, or undefined until more bytes come.
   * @throws IntegrityError MALFORMED on a type this side does not accept, a length over the type's cap, or a
   * body that does not decode.
   */
  next(): RelayMessage | undefined {
    if (this.#header === undefined) {
      if (this.#queue.length < HEADER) return undefined;
      const head = this.#queue.take(HEADER);
      const type = head[0] as number;
      if (!this.#accepted.has(type)) throw malformed(`unexpected frame type 0x${type.toString(16).padStart(2, '0')}`);
      const length = head.readUInt16BE(1);
      if (length > MAX_BODY[type as RelayFrame]) throw malformed(`frame of type 0x${type.toString(16)} with length ${length} over its cap`);
      this.#header = { type: type as RelayFrame, length };
    }
    if (this.#queue.length < this.#header.length) return undefined;
    const { type, length } = this.#header;
    this.#header = undefined;
    const body = this.#queue.take(length);
    switch (type) {
      case RelayFrame.Hello:
        return decodeHello(body);
      case RelayFrame.Waiting:
        return decodeWaiting(body);
      case RelayFrame.Paired:
        return decodePaired(body);
      case RelayFrame.Error:
        return decodeError(body);
    }
  }

  /** Everything pushed after the last message returned (no longer protocol). */
  takeRest(): Buffer {
    if (this.#header !== undefined) throw new Error('takeRest() inside a frame');
    return this.#queue.length === 0 ? Buffer.alloc(0) : this.#queue.take(this.#queue.length);
  }
}
