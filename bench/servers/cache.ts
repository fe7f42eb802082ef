import { buildApp } from '../../demo/app.js'

// Two routes on one demo app, one Redis connection: one cache.get per request
// against one raw ioredis GET of the same value.
const app = await buildApp({ REDIS_URL: process.env.REDIS_URL, LOG_LEVEL: 'silent' })
const key = 'bench:value'
const full = `${app.cache.keys.prefix}:${key}`
await app.cache.set(key, 'x'.repeat(100))

app.get('/bench/cache-get', async () => {
  const r = await app.cache.get(key)
  return { hit: r.ok && r.value !== null }
})
app.get('/bench/raw-get', async () => {
  const value = await app.redis.get(full)
  return { hit: value !== null }
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
console.log(`listening ${url}`)
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
