import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { RedisStore as ConnectRedisStore } from 'connect-redis'
import type { FastifyInstance } from 'fastify'
import { createClient } from 'redis'
import { buildApp } from '../../demo/app.js'
import { createRedisClient } from '../../lib/store/redis-client.js'

// @fastify/session on one demo app, twice: under /ours with the session cache's
// store, under /anchor with connect-redis (on its own node-redis client, as its
// users run it). Same secret, same cookie options, same handlers; each context
// is encapsulated, so each route sees only its own store. Sessions are signed in
// (the store indexes them under their user; connect-redis has no index).

declare module 'fastify' {
  interface Session { userId?: string, visits?: number }
}

const SECRET = 'bench secret, thirty-two characters or more'
// node-redis sends the commands of one event-loop tick in one write by itself, and so does the cachekit
// store on the plugin's default client (`batchWrites`); BENCH_AUTOPIPELINING=1 gives ours an ioredis client
// that batches in its own way instead (`enableAutoPipelining`)
const ours = createRedisClient(process.env.REDIS_URL as string, { autoPipelining: process.env.BENCH_AUTOPIPELINING === '1' })
await ours.connect()
const app = await buildApp({ REDIS_URL: process.env.REDIS_URL, LOG_LEVEL: 'silent', SESSION_SECRET: SECRET }, { redisClient: ours })
const redis = createClient({ url: process.env.REDIS_URL })
await redis.connect()

async function routes (scope: FastifyInstance, store: unknown, base: string, maxAge: number | undefined): Promise<void> {
  await scope.register(fastifyCookie)
  // rolling off: a request that only reads its session writes nothing (with either store)
  await scope.register(fastifySession, { secret: SECRET, store: store as never, rolling: false, saveUninitialized: false, cookie: { secure: false, maxAge } })
  scope.post(`${base}/login`, async (request) => { request.session.userId = 'bench-user'; request.session.visits = 0; return { ok: true } })
  // 401 when the session is not found: a measurement of misses would not count
  scope.get(`${base}/read`, async (request, reply) => request.session.userId === undefined ? await reply.code(401).send({ user: null }) : { user: request.session.userId })
  scope.get(`${base}/write`, async (request, reply) => {
    if (request.session.userId === undefined) return await reply.code(401).send({ user: null })
    request.session.visits = (request.session.visits ?? 0) + 1
    return { user: request.session.userId }
  })
}

// a cookie with maxAge (an hour), and a session cookie (no expiry: each store keeps it its default TTL after each save)
await app.register(async (scope) => { await routes(scope, app.sessionCache.fastifySessionStore({ userIdOf: (s) => s.userId ?? null }), '/ours', 3600_000) })
await app.register(async (scope) => { await routes(scope, new ConnectRedisStore({ client: redis, prefix: 'bench-connect:' }), '/anchor', 3600_000) })
await app.register(async (scope) => { await routes(scope, app.sessionCache.fastifySessionStore({ userIdOf: (s) => s.userId ?? null }), '/ours-open', undefined) })
await app.register(async (scope) => { await routes(scope, new ConnectRedisStore({ client: redis, prefix: 'bench-connect:' }), '/anchor-open', undefined) })

// a fresh signed-in session in each store (the runner flushes Redis before every measurement)
app.get('/bench/cookies', async () => {
  const cookies: Record<string, string> = {}
  for (const base of ['/ours', '/anchor', '/ours-open', '/anchor-open']) {
    const login = await app.inject({ method: 'POST', url: `${base}/login` })
    const cookie = login.cookies.find((c) => c.name === 'sessionId')
    if (cookie === undefined) throw new Error(`no session cookie from ${base}/login`)
    cookies[base.slice(1)] = `sessionId=${cookie.value}`
  }
  return cookies
})
app.addHook('onClose', async () => { await redis.quit(); ours.disconnect() })

const url = await app.listen({ host: '127.0.0.1', port: 0 })
console.log(`listening ${url}`)
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
