// The one place where error kinds become HTTP statuses.
import { BerthError, type ErrorKind } from '../../core/errors.ts';
import { PayloadTooLarge } from './context.ts';

const STATUS: Record<ErrorKind, number> = {
  'not-found': 404,
  invalid: 400,
  conflict: 409,
  'not-modified': 304,
  unauthorized: 401,
  forbidden: 403,
  'not-implemented': 501,
  unavailable: 503,
  internal: 500,
};

export interface HttpError {
  status: number;
  message: string;
}

/** Maps any thrown value to a status and a message that is safe to show a client. */
export function toHttpError(err: unknown, log: (msg: string, err: unknown) => void): HttpError {
  if (err instanceof BerthError) {
    if (err.kind === 'internal') log('internal error', err);
    return { status: STATUS[err.kind], message: err.message };
  }
  if (err instanceof PayloadTooLarge) return { status: 413, message: err.message };
  log('unexpected error', err);
  return { status: 500, message: 'internal server error' };
}
