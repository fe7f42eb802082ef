import { Redis, type RedisOptions } from 'ioredis'
import t from 'tap'
import { redisClientOptions } from '../../lib/store/redis-client.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { fileRedis } from '../helpers/backends.js'

// The store reads a client's options once: a plain client gets its GET sent
// straight as ioredis's own Command, a client with a key prefix, auto-pipelining
// or friendly error stacks goes through client.get. Each must read back what it
// wrote, under the keys the client's own options say.

const CLIENTS: Record<string, RedisOptions> = {
  plain: {},
  'a key prefix': { keyPrefix: 'kp:' },
  'auto-pipelining': { enableAutoPipelining: true },
  'friendly error stacks': { showFriendlyErrorStack: true }
}

for (const [name, extra] of Object.entries(CLIENTS)) {
  t.test(`a client with ${name}: GET reads what SET wrote, and null for a missing key`, async (t) => {
    const redis = await fileRedis()
    await redis.flush()
    const client = new Redis(redis.url, { ...redisClientOptions({}), ...extra })
    t.teardown(() => { client.disconnect() })
    await client.connect()
    const store = new RedisStore({ client, prefix: 'opt' })
    t.ok((await store.set('opt:k', 'value of ' + name)).ok)
    t.same(await store.get('opt:k'), { ok: true, value: 'value of ' + name })
    t.same(await store.get('opt:missing'), { ok: true, value: null })
    const plain = new Redis(redis.url, redisClientOptions({}))
    t.teardown(() => { plain.disconnect() })
    await plain.connect()
    t.equal(await plain.get((extra.keyPrefix ?? '') + 'opt:k'), 'value of ' + name, 'stored under the client\'s own key prefix')
  })
}
