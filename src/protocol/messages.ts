/** Message bodies (docs/PROTOCOL.md §3–§7): pure encoders and decoders over Buffers. */
import { IntegrityError } from '../errors.js';
import { CIPHERTEXT_SIZE, ENCAPSULATION_KEY_SIZE } from '../crypto/mlkem.js';
import { KE1_SIZE, KE2_SIZE, KE3_SIZE } from '../crypto/opaque.js';
import { Reader, Writer } from './codec.js';

export const MAGIC = Buffer.from('sft/2');
export const NONCE_SIZE = 16;
export const SALT_SIZE = 16;
export const SHARE_SIZE = 32;
export const CONFIRM_SIZE = 32;
/** Longest account name on the wire (the account store's own rule is stricter). */
export const MAX_NAME_BYTES = 64;
/** Longest path on the wire; a path must also fit the receiver's PATH_MAX once joined to its root (§6). */
export const MAX_PATH_BYTES = 4095;

export { SUITES, SUITE_NAMES, suiteName, type Suite } from './suites.js';

/** How the server authenticates clients (§3.1). */
export const Mode = { Password: 1, Accounts: 2 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

function modeOf(value: number, what: string): Mode {
  if (value !== Mode.Password && value !== Mode.Accounts) throw new IntegrityError('UNSUPPORTED', `${what}: unknown authentication mode ${value}`);
  return value;
}

// §3.2 Greeting -------------------------------------------------------------------------------------------------

export type Greeting =
  | { mode: typeof Mode.Password; nonce: Buffer; salt: Buffer; iterations: number }
  | { mode: typeof Mode.Accounts; nonce: Buffer };

export function encodeGreeting(g: Greeting): Buffer {
  const w = new Writer().bytes(MAGIC).u8(g.mode).bytes(g.nonce);
  if (g.mode === Mode.Password) w.bytes(g.salt).u32(g.iterations);
  return w.done();
}

/** @throws IntegrityError UNSUPPORTED when the peer is not an sft/2 server, MALFORMED when the body is malformed. */
export function decodeGreeting(body: Buffer): Greeting {
  const r = new Reader(body, 'greeting');
  if (!r.bytesOf(MAGIC.length, 'magic').equals(MAGIC)) throw new IntegrityError('UNSUPPORTED', 'the server does not speak sft protocol version 2');
  const mode = modeOf(r.u8('mode'), 'greeting');
  const nonce = r.bytesOf(NONCE_SIZE, 'nonce');
  const greeting: Greeting = mode === Mode.Password ? { mode, nonce, salt: r.bytesOf(SALT_SIZE, 'salt'), iterations: r.u32('iterations') } : { mode, nonce };
  r.end();
  return greeting;
}

// §3.3 ClientHello ----------------------------------------------------------------------------------------------

export type ClientHello = {
  serverNonce: Buffer;
  nonce: Buffer;
  suites: number[];
  encapsulationKey: Buffer;
} & ({ mode: typeof Mode.Password; Ya: Buffer } | { mode: typeof Mode.Accounts; name: string; ke1: Buffer });

export function encodeClientHello(h: ClientHello): Buffer {
  const w = new Writer().bytes(h.serverNonce).bytes(h.nonce).u8(h.suites.length).bytes(Buffer.from(h.suites)).bytes(h.encapsulationKey);
  if (h.mode === Mode.Password) w.bytes(h.Ya);
  else w.shortString(h.name).bytes(h.ke1);
  return w.done();
}

/** The hello's layout depends on the mode the server announced in its greeting. */
export function decodeClientHello(body: Buffer, mode: Mode): ClientHello {
  const r = new Reader(body, 'client hello');
  const serverNonce = r.bytesOf(NONCE_SIZE, 'server nonce');
  const nonce = r.bytesOf(NONCE_SIZE, 'nonce');
  const count = r.u8('suite count');
  if (count === 0 || count > 8) throw new IntegrityError('MALFORMED', 'client hello: suite count out of range');
  const suites = [...r.bytesOf(count, 'suites')];
  const encapsulationKey = r.bytesOf(ENCAPSULATION_KEY_SIZE, 'encapsulation key');
  const common = { serverNonce, nonce, suites, encapsulationKey };
  const hello: ClientHello =
    mode === Mode.Password
      ? { ...common, mode, Ya: r.bytesOf(SHARE_SIZE, 'Ya') }
      : { ...common, mode, name: r.shortString('name', MAX_NAME_BYTES), ke1: r.bytesOf(KE1_SIZE, 'KE1') };
  r.end();
  return hello;
}

// §3.4 ServerHello ----------------------------------------------------------------------------------------------

/** The server hello without its confirmation tag: what the transcript hash covers. */
export type ServerHelloBody = { suite: number; ciphertext: Buffer } & ({ mode: typeof Mode.Password; Yb: Buffer } | { mode: typeof Mode.Accounts; ke2: Buffer });
/** `confirm`: in password mode it proves the password and the KEM secret; in accounts mode the KEM secret (§3.5). */
export type ServerHello = ServerHelloBody & { confirm: Buffer };

export function encodeServerHelloUnconfirmed(h: ServerHelloBody): Buffer {
  const w = new Writer().u8(h.suite).bytes(h.ciphertext);
  if (h.mode === Mode.Password) w.bytes(h.Yb);
  else w.bytes(h.ke2);
  return w.done();
}

export function encodeServerHello(h: ServerHello): Buffer {
  return Buffer.concat([encodeServerHelloUnconfirmed(h), h.confirm]);
}

export function decodeServerHello(body: Buffer, mode: Mode): ServerHello {
  const r = new Reader(body, 'server hello');
  const suite = r.u8('suite');
  const ciphertext = r.bytesOf(CIPHERTEXT_SIZE, 'ciphertext');
  const hello: ServerHello =
    mode === Mode.Password
      ? { mode, suite, ciphertext, Yb: r.bytesOf(SHARE_SIZE, 'Yb'), confirm: r.bytesOf(CONFIRM_SIZE, 'confirm') }
      : { mode, suite, ciphertext, ke2: r.bytesOf(KE2_SIZE, 'KE2'), confirm: r.bytesOf(CONFIRM_SIZE, 'confirm') };
  r.end();
  return hello;
}

// §3.5 ClientFinish ---------------------------------------------------------------------------------------------

export interface ClientFinish {
  /** Accounts mode only. */
  ke3?: Buffer;
  confirm: Buffer;
}

export function encodeClientFinish(f: ClientFinish): Buffer {
  return Buffer.concat([f.ke3 ?? Buffer.alloc(0), f.confirm]);
}

export function decodeClientFinish(body: Buffer, mode: Mode): ClientFinish {
  const r = new Reader(body, 'client finish');
  const finish: ClientFinish = mode === Mode.Accounts ? { ke3: r.bytesOf(KE3_SIZE, 'KE3'), confirm: r.bytesOf(CONFIRM_SIZE, 'confirm') } : { confirm: r.bytesOf(CONFIRM_SIZE, 'confirm') };
  r.end();
  return finish;
}

// §5 Request ----------------------------------------------------------------------------------------------------

export const Op = { Put: 1, Get: 2, List: 3, Delete: 4 } as const;
export type Op = (typeof Op)[keyof typeof Op];
/** Paths in one Get or Delete request. */
export const MAX_REQUEST_PATHS = 256;

export type Request = { op: typeof Op.Put; into: string } | { op: typeof Op.List; path: string } | { op: typeof Op.Get | typeof Op.Delete; paths: string[] };

export function encodeRequest(q: Request): Buffer {
  const w = new Writer().u8(q.op);
  if (q.op === Op.Put) w.string(q.into);
  else if (q.op === Op.List) w.string(q.path);
  else {
    w.u16(q.paths.length);
    for (const path of q.paths) w.string(path);
  }
  return w.done();
}

export function decodeRequest(body: Buffer): Request {
  const r = new Reader(body, 'request');
  const op = r.u8('op');
  let request: Request;
  if (op === Op.Put) request = { op, into: r.string('into', MAX_PATH_BYTES) };
  else if (op === Op.List) request = { op, path: r.string('path', MAX_PATH_BYTES) };
  else if (op === Op.Get || op === Op.Delete) {
    const count = r.u16('path count');
    if (count === 0 || count > MAX_REQUEST_PATHS) throw new IntegrityError('MALFORMED', `request: ${count} paths (1 to ${MAX_REQUEST_PATHS})`);
    const paths: string[] = [];
    for (let i = 0; i < count; i++) paths.push(r.string('path', MAX_PATH_BYTES));
    request = { op, paths };
  } else throw new IntegrityError('UNSUPPORTED', `request: unknown operation ${op}`);
  r.end();
  return request;
}

// §6 One entry: FileHeader, Offer, Start, content, FileTrailer, Receipt ---------------------------------------

export const EntryKind = { File: 0, Directory: 1 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface FileHeader {
  index: number;
  kind: EntryKind;
  /** Bytes (0 for a directory). */
  size: number;
  /** Permission bits. */
  mode: number;
  /** Modification time, nanoseconds since the epoch. */
  mtimeNs: bigint;
  /** Relative, "/"-separated. */
  path: string;
}

export function encodeFileHeader(h: FileHeader): Buffer {
  return new Writer().u32(h.index).u8(h.kind).u64(h.size).u32(h.mode).u64n(h.mtimeNs).string(h.path).done();
}

export function decodeFileHeader(body: Buffer): FileHeader {
  const r = new Reader(body, 'file header');
  const header = {
    index: r.u32('index'),
    kind: r.choice('kind', 2) as EntryKind,
    size: r.u64('size'),
    mode: r.u32('mode'),
    mtimeNs: r.u64n('mtime'),
    path: r.string('path', MAX_PATH_BYTES),
  };
  r.end();
  if (header.kind === EntryKind.Directory && header.size !== 0) throw new IntegrityError('MALFORMED', 'file header: a directory with a size');
  return header;
}

/** What the receiver holds of an announced entry. */
export const OfferKind = { New: 0, Resume: 1, Have: 2, Refused: 3 } as const;
export type OfferKind = (typeof OfferKind)[keyof typeof OfferKind];
/** Stored files of the same name and size offered as candidates ("x.bin", "x (1).bin", ...). */
export const MAX_CANDIDATES = 8;

export interface Candidate {
  sha256: Buffer;
  storedPath: string;
}

export type Offer =
  | { index: number; kind: typeof OfferKind.New }
  | { index: number; kind: typeof OfferKind.Resume; offset: number; sha256: Buffer }
  | { index: number; kind: typeof OfferKind.Have; candidates: Candidate[] }
  | { index: number; kind: typeof OfferKind.Refused; code: string; message: string };

export function encodeOffer(o: Offer): Buffer {
  const w = new Writer().u32(o.index).u8(o.kind);
  if (o.kind === OfferKind.Resume) w.u64(o.offset).bytes(o.sha256);
  else if (o.kind === OfferKind.Have) {
    w.u8(o.candidates.length);
    for (const c of o.candidates) w.bytes(c.sha256).string(c.storedPath);
  } else if (o.kind === OfferKind.Refused) w.shortString(o.code).string(o.message.slice(0, 512));
  return w.done();
}

export function decodeOffer(body: Buffer): Offer {
  const r = new Reader(body, 'offer');
  const index = r.u32('index');
  const kind = r.choice('kind', 4) as OfferKind;
  let offer: Offer;
  if (kind === OfferKind.New) offer = { index, kind };
  else if (kind === OfferKind.Resume) offer = { index, kind, offset: r.u64('offset'), sha256: r.bytesOf(32, 'sha256') };
  else if (kind === OfferKind.Have) {
    const count = r.u8('candidate count');
    if (count === 0 || count > MAX_CANDIDATES) throw new IntegrityError('MALFORMED', `offer: ${count} candidates`);
    const candidates: Candidate[] = [];
    for (let i = 0; i < count; i++) candidates.push({ sha256: r.bytesOf(32, 'sha256'), storedPath: r.string('stored path', MAX_PATH_BYTES) });
    offer = { index, kind, candidates };
  } else offer = { index, kind, code: r.shortString('code', 32), message: r.string('message', 512) };
  r.end();
  return offer;
}

/** The sender's decision on an Offer: content from `offset` (0: all of it), or skip (it has candidate `candidate`). */
export type Start = { index: number; skip: false; offset: number } | { index: number; skip: true; candidate: number };

export function encodeStart(s: Start): Buffer {
  return new Writer().u32(s.index).u8(s.skip ? 1 : 0).u64(s.skip ? s.candidate : s.offset).done();
}

export function decodeStart(body: Buffer): Start {
  const r = new Reader(body, 'start');
  const index = r.u32('index');
  const skip = r.choice('skip', 2) === 1;
  const value = r.u64(skip ? 'candidate' : 'offset');
  r.end();
  return skip ? { index, skip, candidate: value } : { index, skip, offset: value };
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

export type Receipt =
  | { index: number; stored: true; size: number; sha256: Buffer; storedPath: string }
  | { index: number; stored: false; code: string; message: string };

export function encodeReceipt(r: Receipt): Buffer {
  const w = new Writer().u32(r.index).u8(r.stored ? 0 : 1);
  return (r.stored ? w.u64(r.size).bytes(r.sha256).string(r.storedPath) : w.shortString(r.code).string(r.message.slice(0, 512))).done();
}

export function decodeReceipt(body: Buffer): Receipt {
  const r = new Reader(body, 'receipt');
  const index = r.u32('index');
  const receipt: Receipt =
    r.choice('status', 2) === 0
      ? { index, stored: true, size: r.u64('size'), sha256: r.bytesOf(32, 'sha256'), storedPath: r.string('stored path', MAX_PATH_BYTES) }
      : { index, stored: false, code: r.shortString('code', 32), message: r.string('message', 512) };
  r.end();
  return receipt;
}

/** Sender's Done: entries announced. Receiver's Done: entries stored (skipped ones count as stored), failed, refused. */
export interface Done {
  entries: number;
  failed: number;
  refused: number;
}

export function encodeDone(d: Done): Buffer {
  return new Writer().u32(d.entries).u32(d.failed).u32(d.refused).done();
}

export function decodeDone(body: Buffer): Done {
  const r = new Reader(body, 'done');
  const done = { entries: r.u32('entries'), failed: r.u32('failed'), refused: r.u32('refused') };
  r.end();
  return done;
}

/** Something the sender could not send (a requested path that is missing, a symlink skipped), reported in words. */
export interface Notice {
  code: string;
  path: string;
  message: string;
}

export function encodeNotice(n: Notice): Buffer {
  return new Writer().shortString(n.code).string(n.path).string(n.message.slice(0, 512)).done();
}

export function decodeNotice(body: Buffer): Notice {
  const r = new Reader(body, 'notice');
  const notice = { code: r.shortString('code', 32), path: r.string('path', MAX_PATH_BYTES), message: r.string('message', 512) };
  r.end();
  return notice;
}

// §7 Listing ----------------------------------------------------------------------------------------------------

export const ListingType = { File: 0, Directory: 1, Symlink: 2, Other: 3 } as const;
export type ListingType = (typeof ListingType)[keyof typeof ListingType];
export const LISTING_TYPES = ['file', 'directory', 'symlink', 'other'] as const;

export interface ListingEntry {
  type: ListingType;
  size: number;
  mtimeNs: bigint;
  name: string;
}

export function encodeListing(entries: ListingEntry[]): Buffer {
  const w = new Writer().u16(entries.length);
  for (const e of entries) w.u8(e.type).u64(e.size).u64n(e.mtimeNs).string(e.name);
  return w.done();
}

export function decodeListing(body: Buffer): ListingEntry[] {
  const r = new Reader(body, 'listing');
  const count = r.u16('count');
  const entries: ListingEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ type: r.choice('type', 4) as ListingType, size: r.u64('size'), mtimeNs: r.u64n('mtime'), name: r.string('name', 255 * 4) });
  r.end();
  return entries;
}

// §8 Errors -----------------------------------------------------------------------------------------------------

export interface ErrorMessage {
  code: string;
  message: string;
}

export function encodeError(e: ErrorMessage): Buffer {
  return new Writer().shortString(e.code.slice(0, 32)).string(e.message.slice(0, 200)).done();
}

export function decodeError(body: Buffer): ErrorMessage {
  const r = new Reader(body, 'error');
  const error = { code: r.shortString('code', 32), message: r.string('message', 960) };
  r.end();
  return error;
}
