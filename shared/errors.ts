// Errors are values with an HTTP status and a one-line reason, decided where the
// fact is known and turned into a response at the edge (handler or server).

export type RejectReason =
  | 'unsupported_media_type'
  | 'body_too_large'
  | 'decoded_too_large'
  | 'bad_snappy'
  | 'bad_protobuf'
  | 'missing_metric_name'
  | 'invalid_metric_name'
  | 'invalid_label_name'
  | 'invalid_utf8'
  | 'duplicate_label_name'
  | 'too_many_labels'
  | 'label_name_too_long'
  | 'label_value_too_long'
  | 'metric_name_too_long'
  | 'upstream_rejected'
  | 'method_not_allowed'
  | 'unauthenticated'
  | 'forbidden'
  | 'foreign_cluster'
  | 'over_quota'
  | 'bad_header';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly reason: RejectReason,
    message: string,
    /** sent as Retry-After (429) */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export function isHttpError(err: unknown): err is HttpError {
  return err instanceof HttpError;
}

/** Anything thrown or rejected, as an Error: a rejection need not be one, and logs want its message. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
