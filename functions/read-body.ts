// Reads a streamed request body (the Functions host's HTTP streams mode) into one Buffer,
// stopping as soon as it passes a limit so an oversized body is never held whole.

/** The whole body, or undefined once it passes maxBytes (leaving the loop cancels the rest). */
export async function readStreamBody(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer | undefined> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  // for await: measured cheaper per chunk than a getReader() loop (bench/README.md)
  for await (const value of body as unknown as AsyncIterable<Uint8Array>) {
    size += value.length;
    if (size > maxBytes) return undefined;
    // node:http hands Buffers through; a plain Uint8Array is viewed, not copied
    chunks.push(Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
