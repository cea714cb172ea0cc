/** What a relay bounds, with defaults (docs/PROTOCOL.md §10.3), and the two small mechanisms behind the limits. */
import { isIPv4, isIPv6 } from 'node:net';

export interface RelayLimits {
  /** Connections open at once, all sources together. Default 4096. */
  maxConnections: number;
  /** Connections open at once from one source (an IPv4 address, or an IPv6 /64). Default 32. */
  maxPerSource: number;
  /** Rooms with one peer waiting for its partner. Default 1000. */
  maxWaitingRooms: number;
  /** Time from connect to a complete HELLO, ms. Default 10 s. */
  helloTimeoutMs: number;
  /** Time a peer may wait for its partner, ms. Default 10 min. */
  waitTimeoutMs: number;
  /** Bytes a peer may send after HELLO and before it is paired (held, then given to the partner). Default 512. */
  maxEarlyBytes: number;
  /** Longest life of a paired room, ms; 0: none. Default 12 h. */
  roomLifetimeMs: number;
  /** Bytes forwarded in one room, both directions together; 0: none. Default 64 GiB. */
  maxRoomBytes: number;
  /** Bytes per second in one room, both directions together (a token bucket slows it); 0: none. Default 0. */
  roomRate: number;
  /** A paired room with no byte either way for this long is closed, ms; 0: never. Default 5 min. */
  idleTimeoutMs: number;
  /** After one side of a room closes or half-closes, the other is closed this much later, ms. Default 10 s. */
  halfOpenGraceMs: number;
}

export const DEFAULT_LIMITS: Readonly<RelayLimits> = {
  maxConnections: 4096,
  maxPerSource: 32,
  maxWaitingRooms: 1000,
  helloTimeoutMs: 10_000,
  waitTimeoutMs: 600_000,
  maxEarlyBytes: 512,
  roomLifetimeMs: 12 * 3600_000,
  maxRoomBytes: 64 * 1024 ** 3,
  roomRate: 0,
  idleTimeoutMs: 300_000,
  halfOpenGraceMs: 10_000,
};

/** Times travel in PAIRED as u32 milliseconds: about 49 days at most. */
export const MAX_TIME_MS = 2 ** 32 - 1;

/**
 * A token bucket that may go into debt: take(n) always lets the n bytes through and returns how long the caller
 * should pause its source before the next chunk, so the average stays at `rate` with bursts of at most
 * `capacity` plus one chunk, and nothing is buffered by the limiter itself.
 */
export class TokenBucket {
  #tokens: number;
  #at: number;
  readonly #capacity: number;

  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // One second's worth, at least one socket read (64 KiB), so a slow rate still moves whole chunks.
    this.#capacity = Math.max(rate, 64 * 1024);
    this.#tokens = this.#capacity;
    this.#at = now();
  }

  /** Spends n tokens; returns the ms to wait until the balance is back to zero (0 when not in debt). */
  take(n: number): number {
    const now = this.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) * this.rate) / 1000);
    this.#at = now;
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.rate);
  }
}

/**
 * The key connections are counted under: an IPv4 address (also when written IPv4-mapped, ::ffff:a.b.c.d), or
 * the first 64 bits of an IPv6 address, since one host or site commonly holds a whole /64.
 */
export function sourceKey(address: string): string {
  const plain = address.replace(/%.*$/u, '');
  if (isIPv4(plain)) return plain;
  if (!isIPv6(plain)) return plain;
  const groups = expandIPv6(plain);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const low = ((groups[6] as number) << 16) | (groups[7] as number);
    return [low >>> 24, (low >>> 16) & 0xff, (low >>> 8) & 0xff, low & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (with "::" and an optional dotted IPv4 tail). */
function expandIPv6(address: string): number[] {
  let text = address;
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/u.exec(text);
  if (tail !== null) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
