import { CacheError } from '../result.js'
import { SCRIPT_ERROR } from '../scripts.js'

/**
 * Maps what ioredis throws to our error codes. Anything that is not a reply
 * from Redis itself (closed stream, refused connection, offline queue off,
 * retries exhausted) means Redis could not be reached: UNAVAILABLE.
 */
export function classifyRedisError (err: unknown): CacheError {
  if (err instanceof CacheError) return err
  const error = err as Error
  const message = String(error?.message)
  if (/timed out/i.test(message)) return new CacheError('TIMEOUT', message, err)
  if (error?.name !== 'ReplyError') return new CacheError('UNAVAILABLE', `Redis unavailable: ${message}`, err)
  const own = SCRIPT_ERROR.exec(message)
  if (own !== null) return new CacheError(own[1] as 'INVALID_ARGUMENT', own[2] as string, err)
  if (/WRONGTYPE|not an integer|overflow/i.test(message)) return new CacheError('INVALID_ARGUMENT', message, err)
  if (/NOSCRIPT|@user_script|Error running script/i.test(message)) return new CacheError('SCRIPT', message, err)
  return new CacheError('INTERNAL', message, err)
}

export function isNoScript (err: unknown): boolean {
  return String((err as Error)?.message).startsWith('NOSCRIPT')
}
