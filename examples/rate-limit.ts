// Run: npx tsx examples/run.ts rate-limit            (embedded memory store)
//      REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/run.ts rate-limit
import Fastify from 'fastify'
import { cachePlugin, personal, rateLimitPlugin } from '../index.js' // in your app: from 'fastify-cachekit'

export async function main (redisUrl = process.env.REDIS_URL): Promise<Record<string, unknown>> {
  const app = Fastify()
  await app.register(cachePlugin, redisUrl !== undefined && redisUrl !== '' ? { redisUrl, prefix: 'example-rl' } : { prefix: 'example-rl' })
  await app.register(rateLimitPlugin, {
    max: 100,
    timeWindow: '1 minute',
    routes: { 'POST /login': { max: 5, timeWindow: 60_000 }, 'GET /health': false },
    draftHeaders: true
  })
  app.post('/login', async () => ({ signedIn: true }))
  app.get('/accounts/:id', { config: { rateLimit: { max: 2, timeWindow: 60_000 } } }, async () => ({ ok: true }))
  await app.tokenBucket.reset(['login', personal('alice@example.com')])

  // five logins a minute per client IP: the sixth is refused with Retry-After
  const logins = []
  for (let i = 0; i < 6; i++) logins.push((await app.inject({ method: 'POST', url: '/login', remoteAddress: '192.0.2.1' })).statusCode)
  const refused = await app.inject({ method: 'GET', url: '/accounts/1', remoteAddress: '192.0.2.7' })
  const second = await app.inject({ method: 'GET', url: '/accounts/2', remoteAddress: '192.0.2.7' })
  const third = await app.inject({ method: 'GET', url: '/accounts/3', remoteAddress: '192.0.2.7' })

  // direct use: ten login attempts, one back every 30 s, per email (hashed in the key)
  const login = await app.tokenBucket.take(['login', personal('alice@example.com')], { capacity: 10, refillPerSecond: 1 / 30 })
  await app.tokenBucket.reset(['login', personal('alice@example.com')])
  await app.close()
  return {
    logins,
    accounts: [refused.statusCode, second.statusCode, third.statusCode],
    retryAfter: third.headers['retry-after'],
    draft: refused.headers.ratelimit,
    login
  }
}
