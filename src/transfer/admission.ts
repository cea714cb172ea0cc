/** Who gets server CPU: a cap on concurrent handshakes, and a per-address backoff after failed ones. */

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

const MAX_TRACKED = 10_000;

/**
 * After `threshold` consecutive failed handshakes, an address is refused at accept for 1 s, then 2 s, 4 s, ...
 * up to `maxMs` for each further failure. A success clears its record. At most 10,000 addresses are tracked
 * (the oldest record is dropped first), so an attacker with many addresses cannot grow the table without bound.
 */
export class Backoff {
  readonly #records = new Map<string, { failures: number; until: number }>();

  constructor(
    private readonly threshold: number,
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  blocked(address: string): boolean {
    const record = this.#records.get(address);
    return record !== undefined && record.until > this.now();
  }

  failed(address: string): void {
    const record = this.#records.get(address) ?? { failures: 0, until: 0 };
    record.failures++;
    if (record.failures >= this.threshold) {
      record.until = this.now() + Math.min(this.maxMs, 1000 * 2 ** Math.min(30, record.failures - this.threshold));
    }
    this.#records.delete(address);
    this.#records.set(address, record);
    if (this.#records.size > MAX_TRACKED) this.#records.delete(this.#records.keys().next().value as string);
  }

  succeeded(address: string): void {
    this.#records.delete(address);
  }
}
