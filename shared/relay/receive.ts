// Header checks done before the body is read or decompressed: remote-write 1.0 only
// (snappy + application/x-protobuf), and a declared size within MAX_BODY_BYTES.
// vmagent ≥ 1.116 tries zstd first and a 2.0 sender tries io.prometheus.write.v2.Request:
// both fall back to 1.0 on 415, so 415 is the answer that keeps their data flowing.

import { HttpError } from '../errors';

const V1_PROTO = 'prometheus.WriteRequest';

export function checkWriteHeaders(header: (name: string) => string | null | undefined, maxBodyBytes: number): void {
  const encoding = (header('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== 'snappy') {
    throw new HttpError(415, 'unsupported_media_type', encoding === ''
      ? 'Content-Encoding header is missing: remote-write 1.0 bodies must be snappy block-compressed (Content-Encoding: snappy)'
      : `Content-Encoding "${encoding}" is not supported: send snappy (remote-write 1.0)`);
  }
  const contentType = header('content-type') ?? '';
  const [mediaType, ...params] = contentType.split(';').map((s) => s.trim());
  if (mediaType.toLowerCase() !== 'application/x-protobuf') {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type "${contentType}" is not supported: send application/x-protobuf (remote-write 1.0)`);
  }
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim());
    if (k.toLowerCase() === 'proto' && v !== V1_PROTO) {
      throw new HttpError(415, 'unsupported_media_type', `remote-write message "${v}" is not supported: this relay speaks remote-write 1.0 (proto=${V1_PROTO}); configure the sender for 1.0`);
    }
  }
  const length = header('content-length');
  if (length && Number(length) > maxBodyBytes) {
    throw new HttpError(413, 'body_too_large', `Content-Length ${length} is over MAX_BODY_BYTES=${maxBodyBytes}`);
  }
}
