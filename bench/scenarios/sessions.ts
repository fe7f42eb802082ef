import { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'
import { startCluster } from '../../harness/redis-cluster.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { SessionCache } from '../../lib/session/session-cache.js'
import type { Session } from '../../lib/session/schema.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { benchStore, httpThroughput, loopThroughput, startServer, type Scenario } from '../harness.js'

async function sessionsOnRedis (redisUrl: string, commandTimeoutMs?: number): Promise<{ client: Redis, cache: SessionCache }> {
  const { client, store } = await benchStore(redisUrl, { commandTimeoutMs })
  const cache = new SessionCache(new ComponentContext({ store, keys: new KeyBuilder() }))
  await cache.loadScripts()
  return { client, cache }
}

function loginOf (cache: SessionCache, userId: string, id = (cache.newId(userId) as { value: string }).value): Session {
  const now = new Date()
  return {
    id,
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

/**
 * sessionCache.get of a cached session (GET + decode + schema check) under an
 * id from elsewhere (a UUID), against a raw ioredis GET of the same value, and
 * against the same read under an id from newId().
 */
export const sessionGet: Scenario = {
  name: 'sessions.get in-process (hit)',
  ours: 'sessionCache.get (UUID id)',
  targets: { 'ioredis get (same value)': 0.9 },
  unit: 'ops/s',
  async setup (ctx) {
    const { client, cache } = await sessionsOnRedis(ctx.redisUrl)
    const foreign = loginOf(cache, 'bench-user', randomUUID())
    const minted = loginOf(cache, 'bench-user')
    const key = (cache.keyOf(foreign.id) as { value: string }).value
    const seed = async (): Promise<void> => { await cache.set(foreign); await cache.set(minted) }
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    return {
      variants: {
        'sessionCache.get (UUID id)': async () => { await seed(); return await loopThroughput(() => cache.get(foreign.id), options) },
        'sessionCache.get (newId id)': async () => { await seed(); return await loopThroughput(() => cache.get(minted.id), options) },
        'ioredis get (same value)': async () => { await seed(); return await loopThroughput(() => client.get(key), options) }
      },
      close: async () => { client.disconnect() }
    }
  }
}

/**
 * Does newId() earn its place? A login (set: the session and its index entry)
 * under a UUID against the same under an id from newId(), on a single node
 * (one script either way) and on a Redis Cluster (a UUID's session lives in
 * another slot than its user's index: three steps instead of one script).
 */
export const sessionSetIdKinds: Scenario = {
  name: 'sessions.set: newId() ids against UUIDs (single node and Cluster)',
  ours: 'set, newId id (single node)',
  unit: 'ops/s',
  async setup (ctx) {
    // a login is a script: on a busy machine 50 in flight must not trip the default 250 ms deadline
    const { client, cache } = await sessionsOnRedis(ctx.redisUrl, 5000)
    const cluster = await startCluster()
    const clusterClient = cluster === null ? null : await cluster.client()
    const onCluster = clusterClient === null ? null : new SessionCache(new ComponentContext({ store: new RedisStore({ client: clusterClient, prefix: 'cachekit' }), keys: new KeyBuilder() }))
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    let n = 0
    let failures = 0
    const login = (c: SessionCache, uuid: boolean) => async () => {
      const userId = `bench-user-${++n % 1000}`
      const r = await c.set(loginOf(c, userId, uuid ? randomUUID() : undefined))
      if (!r.ok) failures++
    }
    const variants: Record<string, () => Promise<number>> = {
      'set, newId id (single node)': async () => await loopThroughput(login(cache, false), options),
      'set, UUID id (single node)': async () => await loopThroughput(login(cache, true), options)
    }
    if (onCluster !== null) {
      variants['set, newId id (Cluster)'] = async () => await loopThroughput(login(onCluster, false), options)
      variants['set, UUID id (Cluster)'] = async () => await loopThroughput(login(onCluster, true), options)
    }
    return {
      variants,
      close: async () => { client.disconnect(); clusterClient?.disconnect(); await cluster?.stop() },
      notes: () => [
        ...onCluster === null ? ['no Redis Cluster here (redis-server needed): single node only'] : [],
        ...failures > 0 ? [`${failures} logins failed (deadline) and were counted as done`] : []
      ]
    }
  }
}

/**
 * @fastify/session over HTTP, our store against connect-redis (the store most
 * Fastify apps use; no per-user index), in one server, signed-in sessions.
 * `cookie: 'no expiry'`: a session cookie (no maxAge), whose save never falls
 * within what is stored, so each of ours is the full write (the script).
 */
function sessionStoreHttp (kind: 'read' | 'write', target: number | undefined, cookie: 'maxAge' | 'no expiry' = 'maxAge'): Scenario {
  const ours = `${kind}: fastifySessionStore`
  const anchor = `${kind}: connect-redis`
  const [oursBase, anchorBase] = cookie === 'maxAge' ? ['ours', 'anchor'] as const : ['ours-open', 'anchor-open'] as const
  return {
    name: kind === 'read'
      ? '@fastify/session, a request that reads its session'
      : cookie === 'maxAge'
        ? '@fastify/session, a request that changes its session (saved)'
        : '@fastify/session, a request that changes its session (saved), cookie without expiry',
    ours,
    targets: target === undefined ? undefined : { [anchor]: target },
    unit: 'req/s',
    async setup (ctx) {
      const server = await startServer('sessions', { REDIS_URL: ctx.redisUrl })
      const load = { durationMs: ctx.durationMs, connections: ctx.connections, expectStatus: 200 }
      // a fresh signed-in session per measurement: Redis is flushed before each
      const run = async (base: string): Promise<number> => {
        const cookies = await (await fetch(server.url + '/bench/cookies')).json() as Record<string, string>
        return (await httpThroughput({ ...load, url: `${server.url}/${base}/${kind}`, headers: { cookie: cookies[base] as string } })).rps
      }
      return {
        variants: {
          [ours]: async () => await run(oursBase),
          [anchor]: async () => await run(anchorBase)
        },
        close: async () => { await server.close() }
      }
    }
  }
}

export const sessionStoreRead = sessionStoreHttp('read', 1.0)
export const sessionStoreWrite = sessionStoreHttp('write', 0.9)
export const sessionStoreWriteNoExpiry = sessionStoreHttp('write', undefined, 'no expiry')

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
