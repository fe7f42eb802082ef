// Run: npx tsx examples/run.ts cache            (embedded memory store)
//      REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/run.ts cache
import Fastify from 'fastify'
import { cachePlugin, valueOr } from '../index.js' // in your app: from 'fastify-cachekit'

export async function main (redisUrl = process.env.REDIS_URL): Promise<Record<string, unknown>> {
  const app = Fastify()
  await app.register(cachePlugin, redisUrl !== undefined && redisUrl !== '' ? { redisUrl, prefix: 'example' } : { prefix: 'example' })

  // every method answers with a Result and never throws
  await app.cache.set('greetings:en', 'hello', { ttl: 60 })
  const hit = await app.cache.get('greetings:en')
  const miss = await app.cache.get('greetings:fr')

  // cache-aside: load on a miss (or when the cache is down), cache the answer; a Result too
  const loadUser = async (id: number): Promise<{ id: number, name: string }> => ({ id, name: `user ${id}` })
  const getUser = app.cache.wrap(loadUser, { key: (id) => `users:${id}`, ttl: 300 })
  const loaded = await getUser(42)
  const user = valueOr(loaded, null)

  const counter = await app.cache.increment('visits:today')
  const deleted = await app.cache.deletePattern('greetings:*')
  const stats = app.cacheMetrics.snapshot()
  await app.close()
  return { hit, miss, user, counter, deleted, stats }
}
