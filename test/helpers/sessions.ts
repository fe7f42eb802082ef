import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import type { Logger } from '../../lib/log-throttle.js'
import { CacheMetrics } from '../../lib/metrics.js'
import type { Session } from '../../lib/session/schema.js'
import { SessionCache, type SessionCacheOptions } from '../../lib/session/session-cache.js'
import type { Store } from '../../lib/store/store.js'

/** 32-byte keys for encryption tests (base64). */
export const KEY_A = Buffer.alloc(32, 1).toString('base64')
export const KEY_B = Buffer.alloc(32, 2).toString('base64')

export function sessionCache (store: Store, { logger, ...options }: SessionCacheOptions & { logger?: Logger } = {}): SessionCache {
  return new SessionCache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: store.prefix }), metrics: new CacheMetrics(), logger }), options)
}

/** A session with every field filled, for `userId`, under a fresh id. */
export function fullSession (cache: SessionCache, userId: string, overrides: Partial<Session> = {}): Session {
  const id = cache.newId(userId)
  if (!id.ok) throw id.error
  return {
    id: id.value,
    userId,
    // a few seconds ago, to the millisecond: a session's absolute expiry counts from createdAt
    createdAt: new Date(Math.floor(Date.now() / 1000) * 1000 - 5_877),
    lastActivityAt: new Date(Math.floor(Date.now() / 1000) * 1000 - 1_544),
    expiresAt: new Date(Date.now() + 3600_000),
    ipAddress: '203.0.113.7',
    lastIpAddress: '203.0.113.8',
    userAgent: 'Mozilla/5.0 (test)',
    deviceInfo: { browser: 'Firefox', os: 'Linux', mobile: false, screen: 1080, model: null },
    location: { country: 'NL', city: 'Amsterdam' },
    isRevoked: false,
    revokedAt: new Date('2024-05-02T00:00:00.001Z'),
    revokedReason: 'none yet',
    isTrusted: true,
    refreshTokenId: 'rt-1',
    suspiciousActivityCount: 2,
    lastProviderAccessed: 'github',
    lastProviderSyncAt: new Date('2024-05-01T11:00:00.999Z'),
    providersAccessed: ['github', 'google'],
    ...overrides
  }
}

/** A session with every optional field null. */
export function bareSession (cache: SessionCache, userId: string): Session {
  return fullSession(cache, userId, {
    expiresAt: null,
    ipAddress: null,
    lastIpAddress: null,
    userAgent: null,
    deviceInfo: null,
    location: null,
    revokedAt: null,
    revokedReason: null,
    refreshTokenId: null,
    lastProviderAccessed: null,
    lastProviderSyncAt: null,
    providersAccessed: [],
    isTrusted: false,
    suspiciousActivityCount: 0
  })
}
