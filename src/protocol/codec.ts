import { IntegrityError } from '../errors.js';

/** Reads fields from an untrusted message body; every read checks the remaining length first. */
export class Reader {
  #offset = 0;
  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}

  #need(n: number, field: string): void {
    if (this.#offset + n > this.bytes.length) throw new IntegrityError('MALFORMED', `${this.what}: "${field}" truncated`);
  }

  u8(field: string): number {
    this.#need(1, field);
    return this.bytes[this.#offset++] as number;
  }

  u16(field: string): number {
    this.#need(2, field);
    const v = this.bytes.readUInt16BE(this.#offset);
    this.#offset += 2;
    return v;
  }

  u32(field: string): number {
    this.#need(4, field);
    const v = this.bytes.readUInt32BE(this.#offset);
    this.#offset += 4;
    return v;
  }

  /** u64 as a Number; values above 2^53 - 1 are malformed. */
  u64(field: string): number {
    this.#need(8, field);
    const v = this.bytes.readBigUInt64BE(this.#offset);
    this.#offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new IntegrityError('MALFORMED', `${this.what}: "${field}" too large`);
    return Number(v);
  }

  /** u64 as a BigInt (times in nanoseconds). */
  u64n(field: string): bigint {
    this.#need(8, field);
    const v = this.bytes.readBigUInt64BE(this.#offset);
    this.#offset += 8;
    return v;
  }

  bytesOf(n: number, field: string): Buffer {
    this.#need(n, field);
    const v = this.bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return v;
  }

  /** A u8 that must be below `count` (an enumeration). */
  choice(field: string, count: number): number {
    const v = this.u8(field);
    if (v >= count) throw new IntegrityError('MALFORMED', `${this.what}: "${field}" has no meaning for ${v}`);
    return v;
  }

  /** A u16-length-prefixed UTF-8 string of at most `maxBytes`; invalid UTF-8 is malformed. */
  string(field: string, maxBytes = 0xffff): string {
    return this.#utf8(this.u16(field), field, maxBytes);
  }

  /** A u8-length-prefixed UTF-8 string. */
  shortString(field: string, maxBytes = 0xff): string {
    return this.#utf8(this.u8(field), field, maxBytes);
  }

  #utf8(length: number, field: string, maxBytes: number): string {
    if (length > maxBytes) throw new IntegrityError('MALFORMED', `${this.what}: "${field}" longer than ${maxBytes} bytes`);
    const bytes = this.bytesOf(length, field);
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) throw new IntegrityError('MALFORMED', `${this.what}: "${field}" is not valid UTF-8`);
    return text;
  }

  /** What is left of the body (for a field that runs to its end). */
  rest(): Buffer {
    return this.bytesOf(this.bytes.length - this.#offset, 'rest');
  }

  end(): void {
    if (this.#offset !== this.bytes.length) throw new IntegrityError('MALFORMED', `${this.what}: trailing bytes`);
  }
}

/** Builds a message body field by field. */
export class Writer {
  readonly #parts: Buffer[] = [];

  u8(v: number): this {
    this.#parts.push(Buffer.of(v));
    return this;
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    this.#parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.#parts.push(b);
    return this;
  }

  u64(v: number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    this.#parts.push(b);
    return this;
  }

  u64n(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.#parts.push(b);
    return this;
  }

  bytes(v: Uint8Array): this {
    this.#parts.push(Buffer.from(v));
    return this;
  }

  string(v: string): this {
    const b = Buffer.from(v, 'utf8');
    return this.u16(b.length).bytes(b);
  }

  shortString(v: string): this {
    const b = Buffer.from(v, 'utf8');
    return this.u8(b.length).bytes(b);
  }

  done(): Buffer {
    return Buffer.concat(this.#parts);
  }
}
