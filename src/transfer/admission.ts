/**
 * Who gets a connection and server CPU before proving the password (docs/SECURITY.md "Admission"): a cap on
 * unauthenticated connections per source, a per-source backoff after connections that end without
 * authenticating, a cap on connections in all, and a cap on handshakes computing at once. A source is an IPv4
 * address or an IPv6 /64 (one host usually holds a whole /64). One Admission serves all worker processes: `sft
 * serve` keeps it in the primary process, which accepts every connection.
 */
import { isIPv6 } from 'node:net';

/** A counting semaphore: acquire() resolves to a release function once a slot is free (FIFO). */
export class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    };
  }
}

/** The key connections are counted and penalised under: the IPv4 address, or the IPv6 /64 (IPv4-mapped: the IPv4). */
export function sourceOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

export interface AdmissionLimits {
  /** Connections in all. */
  maxConnections: number;
  /** Connections from one source that have not authenticated yet. */
  maxUnauthenticatedPerSource: number;
  /** Connections from one source that ended without authenticating, before it is refused for a while. */
  failuresBeforeBackoff: number;
  /** The longest a source is refused, ms; the wait starts at 1 s and doubles per further failure. */
  maxBackoff: number;
}

export const ADMISSION_DEFAULTS: AdmissionLimits = {
  maxConnections: 1024,
  maxUnauthenticatedPerSource: 8,
  failuresBeforeBackoff: 5,
  maxBackoff: 300_000,
};

/** At most this many sources are remembered (the oldest record goes first), so the table cannot grow unbounded. */
const MAX_TRACKED = 10_000;

/** A connection's place in the admission counts; report how it ends exactly once. */
export interface Ticket {
  readonly source: string;
  authenticated(): void;
  /** The connection ended: without authenticating, that counts towards the source's backoff. */
  closed(): void;
  /** The server ended it for a reason of its own (a hand-over failed, its process died): no count against the source. */
  dropped(): void;
}

export type Admitted = { admitted: true; ticket: Ticket } | { admitted: false; reason: string };

export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #now: () => number;
  readonly #unauthenticated = new Map<string, number>();
  readonly #penalties = new Map<string, { failures: number; until: number }>();
  #connections = 0;

  constructor(limits: Partial<AdmissionLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...ADMISSION_DEFAULTS, ...limits };
    this.#now = now;
  }

  get connections(): number {
    return this.#connections;
  }

  /** Decides at accept, before a byte is read. */
  admit(address: string): Admitted {
    const source = sourceOf(address);
    const penalty = this.#penalties.get(source);
    if (penalty !== undefined && penalty.until > this.#now()) return { admitted: false, reason: 'too many failed attempts from this address; try again later' };
    if (this.#connections >= this.#limits.maxConnections) return { admitted: false, reason: 'the server is at its connection limit; try again later' };
    const waiting = this.#unauthenticated.get(source) ?? 0;
    if (waiting >= this.#limits.maxUnauthenticatedPerSource) return { admitted: false, reason: 'too many unauthenticated connections from this address' };
    this.#unauthenticated.set(source, waiting + 1);
    this.#connections++;
    return { admitted: true, ticket: this.#ticket(source) };
  }

  #ticket(source: string): Ticket {
    let state: 'waiting' | 'authenticated' | 'closed' = 'waiting';
    const end = (counts: boolean): void => {
      if (state === 'closed') return;
      if (state === 'waiting') {
        this.#leaveWaiting(source);
        if (counts) this.#fail(source);
      }
      state = 'closed';
      this.#connections--;
    };
    return {
      source,
      authenticated: () => {
        if (state !== 'waiting') return;
        state = 'authenticated';
        this.#leaveWaiting(source);
        this.#penalties.delete(source);
      },
      closed: () => end(true),
      dropped: () => end(false),
    };
  }

  #leaveWaiting(source: string): void {
    const left = (this.#unauthenticated.get(source) ?? 1) - 1;
    if (left > 0) this.#unauthenticated.set(source, left);
    else this.#unauthenticated.delete(source);
  }

  #fail(source: string): void {
    const record = this.#penalties.get(source) ?? { failures: 0, until: 0 };
    record.failures++;
    const over = record.failures - this.#limits.failuresBeforeBackoff;
    if (over >= 0) record.until = this.#now() + Math.min(this.#limits.maxBackoff, 1000 * 2 ** Math.min(30, over));
    this.#penalties.delete(source);
    this.#penalties.set(source, record);
    if (this.#penalties.size > MAX_TRACKED) this.#penalties.delete(this.#penalties.keys().next().value as string);
  }
}
