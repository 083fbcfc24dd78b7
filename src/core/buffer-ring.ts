// Reusable buffers of one size. A transfer moves hundreds of 1 MiB buffers a second; reusing
// them keeps the garbage collector — and the peak resident memory — out of the way.

export class BufferRing {
  private readonly free: Buffer[] = [];

  constructor(readonly size: number, private readonly keep: number) {}

  /** A buffer of `size` bytes that owns its whole ArrayBuffer (so it can be transferred). */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Hands a buffer back; one of another size, or past `keep`, is left to the collector. */
  give(buf: Buffer | ArrayBuffer | undefined): void {
    if (!buf) return;
    const ab = buf instanceof ArrayBuffer ? buf : buf.buffer;
    if (!(ab instanceof ArrayBuffer) || ab.byteLength !== this.size || this.free.length >= this.keep) return;
    this.free.push(Buffer.from(ab));
  }
}
