/**
 * age's ASCII armor (age.md "ASCII armor"): strict PEM (RFC 7468 §3) with the label "AGE ENCRYPTED FILE", 64-column
 * padded base64 lines. Both directions stream. The decoder is as strict as age.md asks, so armor adds no
 * malleability: only whitespace before and after the block, LF or CRLF line ends, full 64-column lines but the last,
 * canonical base64 with padding only at the very end, nothing after the end line but whitespace.
 */
import { IntegrityError } from '../errors.js';

export const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
export const ARMOR_END = '-----END AGE ENCRYPTED FILE-----';
const COLUMNS = 64;
const BYTES_PER_LINE = 48;
/** The longest line the decoder holds while waiting for its end: a full base64 line plus a CR. */
const MAX_LINE = COLUMNS + 1;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;
const WHITESPACE = new Set([0x20, 0x09, 0x0d, 0x0a]);

export function armorFailure(message: string): IntegrityError {
  return new IntegrityError('MALFORMED', `age armor: ${message}`);
}

/** Whether `prefix` (the first bytes of an input) starts, after whitespace, like a PEM block. */
export function looksArmored(prefix: Buffer): boolean {
  let i = 0;
  while (i < prefix.length && WHITESPACE.has(prefix[i] as number)) i++;
  return prefix.toString('latin1', i, i + 10) === '-----BEGIN';
}

/** Bytes in, armored text out (as latin1 bytes), in any split. */
export class ArmorEncoder {
  #pending = Buffer.alloc(0);
  #started = false;

  push(data: Buffer): Buffer[] {
    const all = this.#pending.length > 0 ? Buffer.concat([this.#pending, data]) : data;
    const whole = all.length - (all.length % BYTES_PER_LINE);
    this.#pending = Buffer.from(all.subarray(whole));
    const out = this.#begin();
    if (whole > 0) out.push(lines(all.subarray(0, whole)));
    return out;
  }

  end(): Buffer[] {
    const out = this.#begin();
    if (this.#pending.length > 0) out.push(lines(this.#pending));
    out.push(Buffer.from(`${ARMOR_END}\n`, 'latin1'));
    return out;
  }

  #begin(): Buffer[] {
    if (this.#started) return [];
    this.#started = true;
    return [Buffer.from(`${ARMOR_BEGIN}\n`, 'latin1')];
  }
}

/** Base64 of `data` in 64-column lines, each ending with LF. */
function lines(data: Buffer): Buffer {
  const text = Buffer.from(data.toString('base64'), 'latin1');
  const count = Math.ceil(text.length / COLUMNS);
  const out = Buffer.allocUnsafe(text.length + count);
  let at = 0;
  for (let i = 0; i < text.length; i += COLUMNS) {
    at += text.copy(out, at, i, Math.min(i + COLUMNS, text.length));
    out[at++] = 0x0a;
  }
  return out;
}

type State = 'leading' | 'body' | 'final' | 'trailing';

/**
 * Armored text in, in any split; the bytes it encodes out.
 * @throws IntegrityError MALFORMED ("age armor: …") on anything age.md's strict PEM does not allow.
 */
export class ArmorDecoder {
  #state: State = 'leading';
  #line: Buffer[] = [];
  #lineLength = 0;

  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let offset = 0;
    if (this.#state === 'leading') offset = this.#skipWhitespace(data, 0);
    while (offset < data.length) {
      if (this.#state === 'trailing') {
        if (this.#skipWhitespace(data, offset) < data.length) throw armorFailure('data after the end line');
        return out;
      }
      const end = data.indexOf(0x0a, offset);
      const stop = end < 0 ? data.length : end;
      this.#line.push(data.subarray(offset, stop));
      this.#lineLength += stop - offset;
      if (this.#lineLength > MAX_LINE) throw armorFailure('line too long');
      if (end < 0) return out;
      offset = end + 1;
      const decoded = this.#complete(this.#takeLine());
      if (decoded !== undefined) out.push(decoded);
    }
    return out;
  }

  /** Call at end of input. Accepts a final END line without a line feed. */
  end(): void {
    if (this.#lineLength > 0 && this.#state !== 'trailing') this.#complete(this.#takeLine());
    if (this.#state === 'leading') throw new IntegrityError('MALFORMED', 'unknown file format: neither age (binary or armored) nor an sft fernet file');
    if (this.#state !== 'trailing') throw armorFailure('no end line (truncated)');
  }

  #skipWhitespace(data: Buffer, from: number): number {
    let i = from;
    // Only before the BEGIN line starts (nothing of it held yet) or after the END line.
    if (this.#state === 'leading' && this.#lineLength > 0) return i;
    while (i < data.length && WHITESPACE.has(data[i] as number)) i++;
    return i;
  }

  #takeLine(): string {
    let line = Buffer.concat(this.#line).toString('latin1');
    this.#line = [];
    this.#lineLength = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    return line;
  }

  #complete(line: string): Buffer | undefined {
    switch (this.#state) {
      case 'leading':
        if (line !== ARMOR_BEGIN) {
          if (!line.startsWith('-----')) throw new IntegrityError('MALFORMED', 'unknown file format: neither age (binary or armored) nor an sft fernet file');
          throw armorFailure(line.startsWith('-----BEGIN') ? 'not an age armor block' : 'malformed BEGIN line');
        }
        this.#state = 'body';
        return undefined;
      case 'final':
        if (line !== ARMOR_END) throw armorFailure('a short or padded line must be the last one');
        this.#state = 'trailing';
        return undefined;
      default:
        if (line === ARMOR_END) {
          this.#state = 'trailing';
          return undefined;
        }
        return this.#data(line);
    }
  }

  #data(line: string): Buffer {
    if (line.length === 0 || line.length > COLUMNS || !BASE64_LINE.test(line)) throw armorFailure('malformed base64 line');
    if (line.length < COLUMNS || line.endsWith('=')) {
      if (line.length % 4 !== 0) throw armorFailure('base64 line without its padding');
      this.#state = 'final';
    }
    const bytes = Buffer.from(line, 'base64');
    if (bytes.toString('base64') !== line) throw armorFailure('non-canonical base64');
    return bytes;
  }
}
