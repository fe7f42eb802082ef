import Fastify from 'fastify'
import t from 'tap'
import cachePlugin from '../../plugins/cache.js'
import { fileRedis } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'
import { LogCapture } from '../helpers/log-capture.js'

// Personal key parts are keyed hashes; without a secret the key is a public
// default, so anyone who can read the keys of a shared Redis can confirm a
// guessed user id. Boot says so, loudly, once.

async function warningsOf (options: Parameters<typeof cachePlugin>[1]): Promise<string[]> {
  const logs = new LogCapture()
  const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(cachePlugin, options)
  await app.ready()
  return logs.atLeast(40).map((line) => line.msg)
}

t.test('on Redis without a hashSecret: one warning at boot, saying how to make one', async (t) => {
  const { url } = await fileRedis()
  const warnings = await warningsOf({ redisUrl: url })
  const about = warnings.filter((msg) => msg.includes('hashSecret'))
  t.equal(about.length, 1, 'exactly one')
  t.match(about[0], /public default/)
  t.match(about[0], /openssl rand -base64 32/)
})

t.test('no warning with a secret, or on the in-process memory store', async (t) => {
  const { url } = await fileRedis()
  t.same((await warningsOf({ redisUrl: url, hashSecret: 's3cret-s3cret-s3cret' })).filter((msg) => msg.includes('hashSecret')), [])
  t.same((await warningsOf({})).filter((msg) => msg.includes('hashSecret')), [])
})

t.test('the demo warns without CACHE_KEY_HASH_SECRET on Redis', async (t) => {
  const logs = new LogCapture()
  const app = await demoApp(t, 'redis', {}, { logger: { level: 'warn', stream: logs.stream } })
  await app.ready()
  t.equal(logs.atLeast(40).filter((line) => line.msg.includes('hashSecret')).length, 1)
})
