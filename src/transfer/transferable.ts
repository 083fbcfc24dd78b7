/** The ArrayBuffer to transfer for `buf`: its own when the view spans it whole, else a copy. */
export function transferable(buf: Uint8Array): ArrayBuffer {
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer ? buf.buffer : copyOf(buf);
}

export function copyOf(data: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(data.byteLength);
  new Uint8Array(copy).set(data);
  return copy;
}
