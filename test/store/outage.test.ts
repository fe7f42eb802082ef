import { Cluster, Redis } from 'ioredis'
import { mock } from 'node:test'
import t from 'tap'
import { CircuitBreaker } from '../../lib/breaker.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { classifyRedisError } from '../../lib/store/redis-errors.js'
import { CacheError } from '../../lib/result.js'
import { sleep, until } from '../../harness/wait.js'
import { fileRedis, ownRedis } from '../helpers/backends.js'
import { redisStore } from '../helpers/stores.js'
import { zaddScript } from '../helpers/scripts.js'

// A Redis that dies or hangs must cost callers a Failure, never a throw or a hang:
// a deadline on every command, and a circuit breaker so a dead Redis fails fast.

t.test('a hung Redis (SIGSTOP) times out, then the circuit fails fast, then heals', async (t) => {
  const redis = await ownRedis(t)
  const { store, close } = await redisStore(redis, 'out', { commandTimeoutMs: 100 })
  t.teardown(close)
  t.same(await store.set('out:k', 'v'), { ok: true, value: true })

  redis.pause()
  const codes: string[] = []
  for (let i = 0; i < 3; i++) {
    const r = await store.get('out:k')
    codes.push(r.ok ? 'ok' : r.error.code)
  }
  t.same(codes, ['TIMEOUT', 'TIMEOUT', 'TIMEOUT'])
  t.equal(store.breaker.state, 'open')
  const fast = await store.get('out:k')
  t.equal(!fast.ok && fast.error.code, 'UNAVAILABLE', 'open circuit answers without waiting')
  t.match(!fast.ok && fast.error.message, /circuit is open/)
  t.match(await store.runScript(zaddScript, ['out:z'], [1, 'm']), { ok: false, error: { code: 'UNAVAILABLE' } }, 'scripts too')
  t.equal((await store.health()).up, false)

  redis.resume()
  // the next probe after the cooldown closes the circuit again
  await until('the circuit closes again', async () => (await store.get('out:k')).ok)
  t.same(await store.get('out:k'), { ok: true, value: 'v' })
  t.equal(store.breaker.state, 'closed')
})

t.test('a dead Redis is UNAVAILABLE at once; a restart heals without a new client', async (t) => {
  const redis = await ownRedis(t)
  const { store, client, close } = await redisStore(redis, 'out')
  t.teardown(close)
  await redis.kill()
  await until('the client sees the connection gone', () => client.status !== 'ready')
  const calls = await Promise.all([
    store.get('out:a'), store.set('out:a', 'x'), store.getMany(['out:a', 'out:b']), store.setMany([['out:a', 'x']]),
    store.deletePattern('out:*'), store.runScript(zaddScript, ['out:z'], [1, 'm']), store.ping(), store.getDel('out:a'),
    store.increment('out:n'), store.ttl('out:a'), store.expire('out:a', 1), store.exists('out:a'), store.delete('out:a'),
    store.loadScripts([zaddScript])
  ])
  for (const r of calls) t.ok(!r.ok && (r.error.code === 'UNAVAILABLE' || r.error.code === 'TIMEOUT'), `failed as an outage: ${!r.ok ? r.error.code : 'ok'}`)

  await redis.restart()
  await until('the client is connected again', () => client.status === 'ready')
  t.same(await store.set('out:a', 'back'), { ok: true, value: true }, 'the ready event closed the circuit')
  t.same(await store.get('out:a'), { ok: true, value: 'back' })
})

t.test('a client made without commandTimeout still gets the store deadline', async (t) => {
  const redis = await ownRedis(t)
  const client = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client, prefix: 'own', commandTimeoutMs: 80 })
  t.same(await store.set('own:k', 'v'), { ok: true, value: true })
  redis.pause()
  const r = await store.get('own:k')
  t.equal(!r.ok && r.error.code, 'TIMEOUT')
  t.match(!r.ok && r.error.message, /80 ms deadline/)
  redis.resume()
  await store.close()
})

t.test('calls in flight together on a hung Redis share the store\'s deadline slices: each fails with TIMEOUT', async (t) => {
  const redis = await ownRedis(t)
  const client = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => { client.disconnect() })
  const store = new RedisStore({ client, prefix: 'own', commandTimeoutMs: 60, breaker: { failureThreshold: 1000 } })
  t.same(await store.set('own:k', 'v'), { ok: true, value: true })
  redis.pause()
  const calls: Array<Promise<{ ok: boolean, error?: { code: string } }>> = []
  // started across several slices of the deadline
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 20; j++) calls.push(store.get('own:k'))
    await sleep(7)
  }
  const codes = new Set((await Promise.all(calls)).map((r) => r.ok ? 'ok' : r.error?.code))
  t.same([...codes], ['TIMEOUT'])
  redis.resume()
  t.same(await store.get('own:k'), { ok: true, value: 'v' }, 'and the next call answers')
  await store.close()
})

t.test('the store enforces its own deadline when a single-node client has none, and always on a Cluster', async (t) => {
  const redis = await fileRedis()
  const plain = new Redis(redis.url, { lazyConnect: true })
  const timed = new Redis(redis.url, { lazyConnect: true, commandTimeout: 100 })
  const cluster = new Cluster([{ host: '127.0.0.1', port: redis.port }], { lazyConnect: true })
  const clusterTimed = new Cluster([{ host: '127.0.0.1', port: redis.port }], { lazyConnect: true, redisOptions: { commandTimeout: 100 } })
  t.equal(new RedisStore({ client: plain, prefix: 'p' }).deadlineMs, 250)
  t.equal(new RedisStore({ client: plain, prefix: 'p', commandTimeoutMs: 40 }).deadlineMs, 40)
  t.equal(new RedisStore({ client: timed, prefix: 'p' }).deadlineMs, undefined)
  t.equal(new RedisStore({ client: cluster, prefix: 'p' }).deadlineMs, 250)
  // a Cluster node's commandTimeout restarts on each redirection: the store bounds the whole call with it
  t.equal(new RedisStore({ client: clusterTimed, prefix: 'p' }).deadlineMs, 100)
  for (const c of [plain, timed, cluster, clusterTimed]) c.disconnect()
})

t.test('Redis errors map to our codes', async (t) => {
  const reply = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' })
  t.equal(classifyRedisError(new CacheError('DECODE', 'x')).code, 'DECODE')
  t.equal(classifyRedisError(new Error('Command timed out')).code, 'TIMEOUT')
  t.equal(classifyRedisError(new Error('Connection is closed.')).code, 'UNAVAILABLE')
  t.equal(classifyRedisError(reply('ERR value is not an integer or out of range')).code, 'INVALID_ARGUMENT')
  t.equal(classifyRedisError(reply('WRONGTYPE Operation against a key holding the wrong kind of value')).code, 'INVALID_ARGUMENT')
  t.equal(classifyRedisError(reply('INVALID_ARGUMENT cost exceeds capacity')).code, 'INVALID_ARGUMENT')
  t.equal(classifyRedisError(reply('NOSCRIPT No matching script')).code, 'SCRIPT')
  t.equal(classifyRedisError(reply('ERR Unknown Redis command called from script script: abc, on @user_script:1.')).code, 'SCRIPT')
  t.equal(classifyRedisError(reply('ERR something else')).code, 'INTERNAL')
})

// The breaker alone: when it opens, probes and closes.
t.test('the breaker opens after consecutive failures, probes once after the cooldown, closes on success', async (t) => {
  const b = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 30 })
  t.equal(b.state, 'closed')
  t.ok(b.allow())
  b.failure()
  t.equal(b.state, 'closed', 'one failure is not enough')
  b.failure()
  t.equal(b.state, 'open')
  t.notOk(b.allow(), 'fails fast while open')
  await sleep(40)
  t.equal(b.state, 'half-open')
  t.ok(b.allow(), 'one probe goes through')
  t.notOk(b.allow(), 'only one probe at a time')
  b.success()
  t.equal(b.state, 'closed')
  t.ok(b.allow())
})

t.test('a failed breaker probe re-opens it at once', async (t) => {
  const b = new CircuitBreaker({ failureThreshold: 5, cooldownMs: 20 })
  for (let i = 0; i < 5; i++) b.failure()
  await sleep(30)
  t.ok(b.allow())
  b.failure()
  t.equal(b.state, 'open')
  b.reset()
  t.equal(b.state, 'closed', 'reset closes (a fresh connection)')
})

t.test('an open breaker probes when the clock goes back (fake timers from 0), not decades later', async (t) => {
  const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 })
  b.failure()
  t.equal(b.state, 'open')
  mock.timers.enable({ apis: ['Date'], now: 0 })
  t.teardown(() => { mock.timers.reset() })
  t.equal(b.state, 'half-open')
  mock.timers.reset()
})

t.test('a breaker success in between resets the count', async (t) => {
  const b = new CircuitBreaker()
  t.equal(b.failureThreshold, 3)
  t.equal(b.cooldownMs, 1000)
  b.failure(); b.failure(); b.success(); b.failure(); b.failure()
  t.equal(b.state, 'closed')
})
