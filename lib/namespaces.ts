/**
 * The names the cachekit components own, defined once and read by every
 * component, the key builder's users and the metrics:
 *
 * - a key namespace is the segment after the prefix (`<prefix>:<namespace>:…`);
 *   the cache adapter refuses keys in any of them, so a `cache.clear()` or a
 *   `deletePattern('*')` never wipes session tombstones (undoing revocations),
 *   live OAuth states or rate-limit buckets;
 * - a metrics namespace is the name a component's counters are filed under in
 *   `CacheMetrics` (and on `/metrics`). Sessions count under `sessions` though
 *   their keys are `sess…`: both names are public (dashboards read the one,
 *   `docs/keys.md` lists the other), so they stay as they are, side by side here.
 */

export const KEY_NAMESPACES = {
  /** `<prefix>:sess:{<id>}` (or `…:{<user tag>}:<random>` for an id from newId): one session. */
  session: 'sess',
  /** `<prefix>:sess-idx:{<user tag>}`: a user's session ids by expiry. */
  sessionIndex: 'sess-idx',
  /** `<prefix>:sess-rev:{<id>}` (as the session's key): a revoked id's tombstone. */
  sessionTombstones: 'sess-rev',
  /** `<prefix>:authz:{<shard>}:…`: decisions and their generations. */
  authz: 'authz',
  /** `<prefix>:oauth:state:<HMAC of the state>`: one-time OAuth states. */
  oauth: 'oauth',
  /** `<prefix>:ratelimit:<scope>:<identity>`: token buckets. */
  rateLimit: 'ratelimit',
  /** `<prefix>:cache-lock:<key>`: cache-aside's load lock of one key (`getOrSet` with `lock`). */
  cacheLock: 'cache-lock'
} as const

export const METRICS_NAMESPACES = {
  sessions: 'sessions',
  authz: 'authz',
  oauth: 'oauth',
  rateLimit: 'ratelimit'
} as const

/** Where the cache adapter counts a key without a namespace of its own (`counter`, not `users:42`). */
export const DEFAULT_NAMESPACE = 'default'

/** The key namespaces the cache adapter will not touch. */
export const RESERVED_NAMESPACES: ReadonlySet<string> = new Set(Object.values(KEY_NAMESPACES))

/** The metrics namespace of the rate limiter's decisions made under a fail policy: `ratelimit.open`, … */
export function degradedRateLimitNamespace (failPolicy: string): string {
  return `${METRICS_NAMESPACES.rateLimit}.${failPolicy}`
}
