/** Message bodies (docs/PROTOCOL.md §3–§5): pure encoders and decoders over Buffers. */
import { IntegrityError } from '../errors.js';
import { Reader, Writer } from './codec.js';

export const PROTOCOL_VERSION = 1;

/** Suite identifiers on the wire. */
export const SUITES = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2, fernet: 3 } as const;
export type Suite = keyof typeof SUITES;
export const SUITE_NAMES = Object.keys(SUITES) as Suite[];

export function suiteName(id: number): Suite | undefined {
  return SUITE_NAMES.find((name) => SUITES[name] === id);
}

export interface ClientHello {
  version: number;
  suites: number[];
  salt: Buffer;
  iterations: number;
  sid: Buffer;
  Ya: Buffer;
}

/** ADa: the hello's negotiable parameters, bound into CPace's ISK. */
export function clientAd(h: Pick<ClientHello, 'version' | 'suites' | 'salt' | 'iterations'>): Buffer {
  return new Writer().u8(h.version).u8(h.suites.length).bytes(Buffer.from(h.suites)).bytes(h.salt).u32(h.iterations).done();
}

export function encodeClientHello(h: ClientHello): Buffer {
  return Buffer.concat([clientAd(h), h.sid, h.Ya]);
}

export function decodeClientHello(body: Buffer): ClientHello {
  const r = new Reader(body, 'client hello');
  const version = r.u8('version');
  if (version !== PROTOCOL_VERSION) throw new IntegrityError('UNSUPPORTED', `protocol version ${version} not supported (this side speaks ${PROTOCOL_VERSION})`);
  const count = r.u8('suite count');
  if (count === 0 || count > 8) throw new IntegrityError('MALFORMED', 'client hello: suite count out of range');
  const suites = [...r.bytesOf(count, 'suites')];
  const hello = { version, suites, salt: r.bytesOf(16, 'salt'), iterations: r.u32('iterations'), sid: r.bytesOf(16, 'sid'), Ya: r.bytesOf(32, 'Ya') };
  r.end();
  return hello;
}

export interface ServerHello {
  version: number;
  suite: number;
  Yb: Buffer;
  /** HMAC proving the server derived the session key. */
  confirm: Buffer;
}

export function serverAd(h: Pick<ServerHello, 'version' | 'suite'>): Buffer {
  return Buffer.of(h.version, h.suite);
}

export function encodeServerHello(h: ServerHello): Buffer {
  return Buffer.concat([serverAd(h), h.Yb, h.confirm]);
}

export function decodeServerHello(body: Buffer): ServerHello {
  const r = new Reader(body, 'server hello');
  const hello = { version: r.u8('version'), suite: r.u8('suite'), Yb: r.bytesOf(32, 'Yb'), confirm: r.bytesOf(32, 'confirm') };
  r.end();
  if (hello.version !== PROTOCOL_VERSION) throw new IntegrityError('UNSUPPORTED', `server speaks protocol version ${hello.version}`);
  return hello;
}

export interface FileHeader {
  index: number;
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

export function encodeFileHeader(h: FileHeader): Buffer {
  return new Writer().u32(h.index).u64(h.size).u32(h.mode).u64(h.mtimeMs).string(h.path).done();
}

export function decodeFileHeader(body: Buffer): FileHeader {
  const r = new Reader(body, 'file header');
  const header = { index: r.u32('index'), size: r.u64('size'), mode: r.u32('mode'), mtimeMs: r.u64('mtime'), path: r.string('path') };
  r.end();
  return header;
}

/** The server's answer to every FileHeader: what it already holds of that file. */
export const OfferKind = { New: 0, Resume: 1, Have: 2 } as const;
export type OfferKind = (typeof OfferKind)[keyof typeof OfferKind];

export interface Offer {
  index: number;
  kind: OfferKind;
  /** Resume: bytes of the file the server holds. */
  offset: number;
  /** Resume: SHA-256 of those bytes. Have: SHA-256 of the stored file. New: zeros. */
  sha256: Buffer;
}

export function encodeOffer(o: Offer): Buffer {
  return new Writer().u32(o.index).u8(o.kind).u64(o.offset).bytes(o.sha256).done();
}

export function decodeOffer(body: Buffer): Offer {
  const r = new Reader(body, 'offer');
  const index = r.u32('index');
  const kind = r.u8('kind');
  if (kind > 2) throw new IntegrityError('MALFORMED', 'offer: unknown kind');
  const offer = { index, kind: kind as OfferKind, offset: r.u64('offset'), sha256: r.bytesOf(32, 'sha256') };
  r.end();
  return offer;
}

/** The client's decision on an Offer: content from `offset` (0: from the start), or skip (the server has it). */
export interface Start {
  index: number;
  offset: number;
  skip: boolean;
}

export function encodeStart(s: Start): Buffer {
  return new Writer().u32(s.index).u64(s.offset).u8(s.skip ? 1 : 0).done();
}

export function decodeStart(body: Buffer): Start {
  const r = new Reader(body, 'start');
  const start = { index: r.u32('index'), offset: r.u64('offset'), skip: r.u8('skip') === 1 };
  r.end();
  return start;
}

export interface FileTrailer {
  index: number;
  sha256: Buffer;
}

export function encodeFileTrailer(t: FileTrailer): Buffer {
  return new Writer().u32(t.index).bytes(t.sha256).done();
}

export function decodeFileTrailer(body: Buffer): FileTrailer {
  const r = new Reader(body, 'file trailer');
  const trailer = { index: r.u32('index'), sha256: r.bytesOf(32, 'sha256') };
  r.end();
  return trailer;
}

export interface Receipt {
  index: number;
  size: number;
  sha256: Buffer;
  /** Where the server stored the file, relative to its inbox (may differ from the sent path when renamed). */
  storedPath: string;
}

export function encodeReceipt(r: Receipt): Buffer {
  return new Writer().u32(r.index).u64(r.size).bytes(r.sha256).string(r.storedPath).done();
}

export function decodeReceipt(body: Buffer): Receipt {
  const r = new Reader(body, 'receipt');
  const receipt = { index: r.u32('index'), size: r.u64('size'), sha256: r.bytesOf(32, 'sha256'), storedPath: r.string('stored path') };
  r.end();
  return receipt;
}

export function encodeDone(files: number): Buffer {
  return new Writer().u32(files).done();
}

export function decodeDone(body: Buffer): number {
  const r = new Reader(body, 'done');
  const files = r.u32('files');
  r.end();
  return files;
}

export interface ErrorMessage {
  code: string;
  message: string;
}

export function encodeError(e: ErrorMessage): Buffer {
  return new Writer().string(e.code.slice(0, 32)).string(e.message.slice(0, 512)).done();
}

export function decodeError(body: Buffer): ErrorMessage {
  const r = new Reader(body, 'error');
  const error = { code: r.string('code'), message: r.string('message') };
  r.end();
  return error;
}
