// The one closed set of error kinds. Everything below the API edge throws a
// BerthError; api/http maps the kind to an HTTP status in one place.

export type ErrorKind =
  | 'not-found'
  | 'invalid'
  | 'conflict'
  | 'not-modified'
  | 'unauthorized'
  | 'forbidden'
  | 'not-implemented'
  | 'unavailable'
  | 'internal';

export class BerthError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'BerthError';
  }
}

export const notFound = (message: string) => new BerthError('not-found', message);
export const invalid = (message: string) => new BerthError('invalid', message);
export const conflict = (message: string) => new BerthError('conflict', message);
export const notModified = (message = '') => new BerthError('not-modified', message);
export const notImplemented = (message: string) => new BerthError('not-implemented', message);
export const unavailable = (message: string) => new BerthError('unavailable', message);
export const internal = (message: string, cause?: unknown) => new BerthError('internal', message, { cause });

export function isKind(err: unknown, kind: ErrorKind): err is BerthError {
  return err instanceof BerthError && err.kind === kind;
}
