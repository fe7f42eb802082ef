import { Redis } from 'ioredis'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { SessionCache } from '../../lib/session/session-cache.js'
import type { Session } from '../../lib/session/schema.js'
import { benchStore, loopThroughput, type Scenario } from '../harness.js'

async function sessionsOnRedis (redisUrl: string, commandTimeoutMs?: number): Promise<{ client: Redis, cache: SessionCache }> {
  const { client, store } = await benchStore(redisUrl, { commandTimeoutMs })
  const cache = new SessionCache(new ComponentContext({ store, keys: new KeyBuilder() }))
  await cache.loadScripts()
  return { client, cache }
}

function loginOf (cache: SessionCache, userId: string): Session {
  const now = new Date()
  return {
    id: (cache.newId(userId) as { value: string }).value,
    userId,
    createdAt: now,
    lastActivityAt: now,
    expiresAt: new Date(now.getTime() + 3600_000),
    ipAddress: '203.0.113.7',
    lastIpAddress: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    deviceInfo: { browser: 'Firefox', os: 'Linux', mobile: false },
    location: { country: 'NL', city: 'Amsterdam' },
    isRevoked: false,
    revokedAt: null,
    revokedReason: null,
    isTrusted: true,
    refreshTokenId: 'rt-4f1c9a',
    suspiciousActivityCount: 0,
    lastProviderAccessed: 'github',
    lastProviderSyncAt: now,
    providersAccessed: ['github']
  }
}

/** sessionCache.get of a cached session (GET + decode + schema check) against a raw ioredis GET of the same value. */
export const sessionGet: Scenario = {
  name: 'sessions.get in-process (hit)',
  ours: 'sessionCache.get',
  targets: { 'ioredis get (same value)': 0.9 },
  unit: 'ops/s',
  async setup (ctx) {
    const { client, cache } = await sessionsOnRedis(ctx.redisUrl)
    const session = loginOf(cache, 'bench-user')
    const key = (cache.keyOf(session.id) as { value: string }).value
    const seed = async (): Promise<void> => { await cache.set(session) }
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    return {
      variants: {
        'sessionCache.get': async () => { await seed(); return await loopThroughput(() => cache.get(session.id), options) },
        'ioredis get (same value)': async () => { await seed(); return await loopThroughput(() => client.get(key), options) }
      },
      close: async () => { client.disconnect() }
    }
  }
}

const SESSIONS_PER_USER = 1000

/**
 * Log out everywhere over 1,000 sessions: ours is two round trips (list, then
 * one script), against the naive way, one DEL per session. Seeding is not
 * timed; ops/s counts whole delete-alls.
 */
export const sessionDeleteAll: Scenario = {
  name: 'sessions.deleteAllForUser (1,000 sessions)',
  ours: 'deleteAllForUser',
  unit: 'delete-alls/s',
  async setup (ctx) {
    // seeding a thousand logins at once must not trip the default 250 ms deadline on a busy machine
    const { client, cache } = await sessionsOnRedis(ctx.redisUrl, 5000)
    let round = 0
    const seed = async (): Promise<string> => {
      const userId = `bench-user-${++round}`
      for (let i = 0; i < SESSIONS_PER_USER; i += 100) {
        await Promise.all(Array.from({ length: 100 }, async () => await cache.set(loginOf(cache, userId))))
      }
      return userId
    }
    const timed = async (op: (userId: string) => Promise<number>): Promise<number> => {
      let spentMs = 0
      let done = 0
      const stopAt = performance.now() + ctx.durationMs
      while (performance.now() < stopAt || done === 0) {
        const userId = await seed()
        const started = performance.now()
        const deleted = await op(userId)
        spentMs += performance.now() - started
        if (deleted !== SESSIONS_PER_USER) throw new Error(`deleted ${deleted} of ${SESSIONS_PER_USER}`)
        done++
      }
      return done / (spentMs / 1000)
    }
    return {
      variants: {
        deleteAllForUser: async () => await timed(async (userId) => {
          const r = await cache.deleteAllForUser(userId)
          if (!r.ok) throw r.error
          return r.value
        }),
        'naive: list, then one DEL per session': async () => await timed(async (userId) => {
          const index = (cache.indexKeyOf(userId) as { value: string }).value
          const ids = await client.zrange(index, '0', '-1')
          let deleted = 0
          for (const id of ids) deleted += await client.del((cache.keyOf(id) as { value: string }).value)
          await client.del(index)
          return deleted
        })
      },
      close: async () => { client.disconnect() }
    }
  }
}
