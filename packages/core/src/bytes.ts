// Helpers for key material held in Buffers. Secrets never become JS strings inside core,
// except where the caller explicitly asks for a value's text (output, env injection).
export function zero(...bufs: Array<Uint8Array | null | undefined>): void {
  for (const b of bufs) if (b) b.fill(0);
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
