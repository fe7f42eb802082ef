import { CacheError } from './result.js'

/**
 * Rejects with a TIMEOUT CacheError when `promise` has not settled within `ms`.
 * The work itself is not cancelled: a Redis command may still run, so callers
 * must never retry non-idempotent work after a timeout.
 */
export function withDeadline<T> (promise: Promise<T>, ms: number, what = 'command'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new CacheError('TIMEOUT', `${what} exceeded its ${ms} ms deadline`)) }, ms)
    timer.unref()
  })
  return Promise.race([promise, deadline]).finally(() => { clearTimeout(timer) })
}
