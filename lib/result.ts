/**
 * Every cache-facing method answers with a Result instead of throwing, so a
 * Redis outage is a value the caller handles, never an exception that escapes
 * into a request handler.
 */

export type ErrorCode =
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'INVALID_ARGUMENT'
  | 'DECODE'
  | 'ENCODE'
  | 'SCRIPT'
  | 'INTERNAL'
  /** A cache-aside loader (your function) threw or rejected; its error is the `cause`. */
  | 'LOADER'

export class CacheError extends Error {
  readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'CacheError'
    this.code = code
  }
}

export interface Success<T> { readonly ok: true, readonly value: T }
export interface Failure { readonly ok: false, readonly error: CacheError }
export type Result<T> = Success<T> | Failure

export function ok<T> (value: T): Success<T> {
  return { ok: true, value }
}

export function fail (code: ErrorCode, message: string, cause?: unknown): Failure {
  return { ok: false, error: new CacheError(code, message, cause) }
}

/** Failures caused by the backend being slow or gone, as opposed to bad input. */
export function isOutage (error: CacheError): boolean {
  return error.code === 'TIMEOUT' || error.code === 'UNAVAILABLE'
}

/** The value of a success, or `fallback` for a failure: the fail-open read. */
export function valueOr<T> (result: Result<T>, fallback: T): T {
  return result.ok ? result.value : fallback
}

/** Runs `fn` and turns a throw into a Failure with `code`. */
export function attempt<T> (code: ErrorCode, fn: () => T): Result<T> {
  try {
    return ok(fn())
  } catch (err) {
    return fail(code, (err as Error).message, err)
  }
}

/** A caught value as a Failure: a CacheError keeps its code, anything else gets `code`. */
export function toFailure (err: unknown, code: ErrorCode): Failure {
  if (err instanceof CacheError) return { ok: false, error: err }
  return fail(code, (err as Error).message, err)
}

/**
 * The value of a success; throws the CacheError of a failure. For code where a
 * failure cannot be ridden out anyway (start-up, scripts, examples).
 */
export function unwrap<T> (result: Result<T>): T {
  if (result.ok) return result.value
  throw result.error
}
