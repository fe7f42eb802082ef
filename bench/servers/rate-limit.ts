import fastifyRateLimit from '@fastify/rate-limit'
import Fastify, { type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import cachePlugin from '../../plugins/cache.js'
import rateLimitPlugin from '../../plugins/rate-limit.js'

// One limiter per process, chosen by RL_MODE, on the same route `GET /r/:client`
// keyed by `:client` (so autocannon can spread load over many keys from one IP):
//   ours      cachekit's token bucket (Lua via EVALSHA) as @fastify/rate-limit's store
//   fastify   @fastify/rate-limit with its built-in Redis store
//   flexible  rate-limiter-flexible's RateLimiterRedis, consumed in an onRequest hook
//   raw-get   no limiter, the route does one ioredis GET
//   none      no limiter, no Redis
//   static-429  no limiter, no Redis: every request gets a fixed 429 shaped as a refusal
//               (same headers, same body), to show what the response itself costs
// RL_MAX / RL_WINDOW_MS set the limit (default: high enough that all is allowed).
const mode = process.env.RL_MODE ?? 'ours'
const max = Number(process.env.RL_MAX ?? 1e9)
const timeWindow = Number(process.env.RL_WINDOW_MS ?? 60_000)
const url = process.env.REDIS_URL as string
const keyGenerator = (request: FastifyRequest): string => (request.params as { client: string }).client

const app = Fastify({ logger: false })
const redis = new Redis(url)
const reply = { ok: true }

if (mode === 'ours') {
  await app.register(cachePlugin, { redisUrl: url })
  await app.register(rateLimitPlugin, { max, timeWindow, keyGenerator })
} else if (mode === 'fastify') {
  await app.register(fastifyRateLimit, { max, timeWindow, keyGenerator, redis })
} else if (mode === 'flexible') {
  const limiter = new RateLimiterRedis({ storeClient: redis, points: max, duration: Math.max(1, Math.round(timeWindow / 1000)), keyPrefix: 'rlflex' })
  app.addHook('onRequest', async (request, res) => {
    try {
      await limiter.consume(keyGenerator(request))
    } catch {
      return await res.code(429).send({ statusCode: 429, error: 'Too Many Requests' })
    }
  })
}

if (mode === 'static-429') {
  const body = '{"statusCode":429,"error":"Too Many Requests","message":"Rate limit exceeded, retry in 1 hour"}'
  app.addHook('onRequest', (_request, res, _done) => {
    res.code(429).header('x-ratelimit-limit', 1).header('x-ratelimit-remaining', 0).header('x-ratelimit-reset', 3600)
      .header('retry-after', 3600).type('application/json; charset=utf-8').send(body)
  })
}

app.get('/r/:client', async () => {
  if (mode === 'raw-get') await redis.get('bench:' + 'x')
  return reply
})

const listening = await app.listen({ host: '127.0.0.1', port: 0 })
console.log(`listening ${listening}`)
process.once('SIGTERM', () => { app.close().then(() => { redis.disconnect(); process.exit(0) }, () => process.exit(1)) })
