// Header checks done before the body is read or decompressed: snappy +
// application/x-protobuf, remote-write 1.0 (no proto= or proto=prometheus.WriteRequest)
// or 2.0 (proto=io.prometheus.write.v2.Request), and a declared size within MAX_BODY_BYTES.
// vmagent ≥ 1.116 tries zstd first and falls back to snappy on 415, so 415 is the answer
// that keeps its data flowing.

import { HttpError } from '../errors';
import { V2_PROTO } from './v2';

const V1_PROTO = 'prometheus.WriteRequest';

/** Which message the body holds, from its Content-Type. */
export type WriteProtocol = 'v1' | 'v2';

export function checkWriteHeaders(header: (name: string) => string | null | undefined, maxBodyBytes: number): WriteProtocol {
  const encoding = (header('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== 'snappy') {
    throw new HttpError(
      415,
      'unsupported_media_type',
      encoding === ''
        ? 'Content-Encoding header is missing: remote-write bodies must be snappy block-compressed (Content-Encoding: snappy)'
        : `Content-Encoding "${encoding}" is not supported: send snappy`,
    );
  }
  const contentType = header('content-type') ?? '';
  const [mediaType, ...params] = contentType.split(';').map((s) => s.trim());
  if (mediaType.toLowerCase() !== 'application/x-protobuf') {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type "${contentType}" is not supported: send application/x-protobuf`);
  }
  let protocol: WriteProtocol = 'v1';
  for (const p of params) {
    const [k, v = ''] = p.split('=').map((s) => s.trim());
    if (k.toLowerCase() !== 'proto') continue;
    if (v === V2_PROTO) protocol = 'v2';
    else if (v !== V1_PROTO) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `remote-write message "${v}" is not supported: send proto=${V1_PROTO} (1.0) or proto=${V2_PROTO} (2.0)`,
      );
    }
  }
  const length = header('content-length');
  if (length && Number(length) > maxBodyBytes) {
    throw new HttpError(413, 'body_too_large', `Content-Length ${length} is over MAX_BODY_BYTES=${maxBodyBytes}`);
  }
  return protocol;
}
