import { fail, ok, type Result } from './result.js'

/**
 * The one TTL rule of the library: a TTL is seconds (fractions allowed), kept
 * to the whole millisecond, so it must be a finite number above zero that
 * rounds to at least 1 ms, and no more than `max` seconds where the caller
 * bounds it. Store writes, session TTLs, authz decision TTLs and the OAuth
 * state lifetime are all checked here, so they accept and refuse the same values.
 */

/** `ttl` seconds as whole milliseconds, or INVALID_ARGUMENT naming `name`. */
export function ttlToMs (ttl: unknown, name = 'ttl', max = Infinity): Result<number> {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > max) {
    const range = max === Infinity ? 'a positive finite number of seconds' : `a number of seconds in (0, ${max}]`
    return fail('INVALID_ARGUMENT', `${name} must be ${range}, got ${String(ttl)}`)
  }
  const ms = Math.round(ttl * 1000)
  return ms >= 1 ? ok(ms) : fail('INVALID_ARGUMENT', `${name} ${ttl} s is shorter than one millisecond`)
}

/**
 * `ttlToMs` for an option read at construction: a bad TTL there is a
 * configuration error, so it throws a TypeError that names its owner.
 */
export function ttlOptionMs (owner: string, name: string, ttl: unknown, max?: number): number {
  const ms = ttlToMs(ttl, name, max)
  if (!ms.ok) throw new TypeError(`${owner}: ${ms.error.message}`)
  return ms.value
}
