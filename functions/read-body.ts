// Reads a streamed request body (the Functions host's HTTP streams mode) into one Buffer,
// stopping as soon as it passes a limit so an oversized body is never held whole.

/** The whole body, or undefined once it passes maxBytes (the rest is cancelled, not read). */
export async function readStreamBody(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer | undefined> {
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    // node:http hands Buffers through; a plain Uint8Array is viewed, not copied
    chunks.push(Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
