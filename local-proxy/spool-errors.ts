// Why an append failed, as accept.ts maps them to status codes (all 503: the sender retries).

/** The cap is reached and the policy is reject: answer 503 so the sender keeps the data. */
export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

/** The disk refused a write or a flush: answer 503, the sender retries. */
export class SpoolWriteError extends Error {
  override readonly name = 'SpoolWriteError';
}

export class SpoolClosedError extends Error {
  override readonly name = 'SpoolClosedError';
}
