/**
 * A FIFO of buffers that hands out exact byte counts, copying only when a request spans two buffers.
 * Decoders use it to accept input in any split.
 */
export class ByteQueue {
  #buffers: Buffer[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.#buffers.push(data);
    this.#length += data.length;
  }

  /** Removes and returns the first `n` bytes. The caller checks `length` first. */
  take(n: number): Buffer {
    if (n > this.#length) throw new RangeError(`take(${n}) with only ${this.#length} bytes queued`);
    this.#length -= n;
    const first = this.#buffers[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.#buffers.shift();
      else this.#buffers[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#buffers[0] as Buffer;
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.#buffers.shift();
      else this.#buffers[0] = head.subarray(used);
    }
    return out;
  }

  /** Removes the first `n` bytes and returns them as they were pushed (views, never a copy). The caller checks `length` first. */
  takePieces(n: number): Buffer[] {
    if (n > this.#length) throw new RangeError(`takePieces(${n}) with only ${this.#length} bytes queued`);
    this.#length -= n;
    const pieces: Buffer[] = [];
    for (let left = n; left > 0; ) {
      const head = this.#buffers[0] as Buffer;
      const piece = head.subarray(0, left);
      if (piece.length === head.length) this.#buffers.shift();
      else this.#buffers[0] = head.subarray(left);
      pieces.push(piece);
      left -= piece.length;
    }
    return pieces;
  }

  /** Returns the first `n` bytes without removing them (copies when they span buffers). */
  peek(n: number): Buffer {
    const first = this.#buffers[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.#buffers, this.#length).subarray(0, n);
  }
}
