import { Redis } from 'ioredis'
import { mock } from 'node:test'
import t, { type Test } from 'tap'
import { redisClientOptions } from '../../lib/store/redis-client.js'
import { EndOfTurn } from '../../lib/end-of-turn.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { sha1, type Script } from '../../lib/scripts.js'
import { until } from '../../harness/wait.js'
import { ownRedis } from '../helpers/backends.js'

// RedisStore writes the commands of one pass of the event loop to the socket
// in one write (batchWrites, on by default). Observed here on the client's real
// socket (its write calls counted, each passed through) and on the Redis
// server (how many reads it made), and compared with batchWrites: false.

const ECHO_LUA = 'return ARGV[1]'
const echo: Script<string> = { name: 'echo', lua: ECHO_LUA, sha: sha1(ECHO_LUA), twin: (_ctx, _keys, args) => args[0] as string, decode: (reply) => String(reply) }

interface Watched { client: Redis, store: RedisStore, writes: () => { write: number, writev: number } }

async function watched (t: Test, url: string, batchWrites?: boolean, extra = {}): Promise<Watched> {
  const client = new Redis(url, { ...redisClientOptions({}), ...extra })
  t.teardown(() => { client.disconnect() })
  await client.connect()
  const store = new RedisStore({ client, prefix: 'bw', batchWrites })
  const counts = { write: 0, writev: 0 }
  const socket = client.stream as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>
  const write = socket._write.bind(socket)
  const writev = socket._writev.bind(socket)
  socket._write = (...args) => { counts.write++; return write(...args) }
  socket._writev = (...args) => { counts.writev++; return writev(...args) }
  return { client, store, writes: () => ({ ...counts }) }
}

/** Reads the Redis server has made from its clients' sockets since it started. */
async function readsProcessed (client: Redis): Promise<number> {
  return Number(/total_reads_processed:(\d+)/.exec(await client.info('stats'))?.[1])
}

/** One pass's worth of calls of each kind: SET then GET of each key, a script, a DEL; sent without awaiting between. */
function oneTurn (store: RedisStore, n: number): Array<Promise<unknown>> {
  const calls: Array<Promise<unknown>> = []
  for (let i = 0; i < n; i++) {
    calls.push(store.set(`bw:k${i}`, `v${i}`))
    calls.push(store.get(`bw:k${i}`))
  }
  calls.push(store.runScript(echo, ['bw:k0'], ['from a script']))
  calls.push(store.delete('bw:k0'))
  return calls
}

t.test('the commands of one pass of the event loop leave in one socket write, in the order they were sent', async (t) => {
  const redis = await ownRedis(t)
  const { store, writes } = await watched(t, redis.url)
  // Redis's counters read by the unrestricted user, on a connection of its own
  const admin = redis.client()
  t.teardown(() => { admin.disconnect() })
  await store.loadScripts([echo])
  const readsBefore = await readsProcessed(admin)
  const before = writes()
  const answers = await Promise.all(oneTurn(store, 30))
  const after = writes()
  const readsAfter = await readsProcessed(admin)
  // each GET answers the SET sent just before it: the order held
  for (let i = 0; i < 30; i++) t.same(answers[2 * i + 1], { ok: true, value: `v${i}` })
  t.same(answers.slice(-2), [{ ok: true, value: 'from a script' }, { ok: true, value: true }])
  t.same({ write: after.write - before.write, writev: after.writev - before.writev }, { write: 0, writev: 1 }, 'one write for the 62 calls')
  t.ok(readsAfter - readsBefore <= 3, `Redis read the 62 commands at once (${readsAfter - readsBefore} reads, INFO included)`)
})

t.test('with batchWrites: false each command is a write of its own', async (t) => {
  const redis = await ownRedis(t)
  const { store, writes } = await watched(t, redis.url, false)
  await store.loadScripts([echo])
  const before = writes()
  const answers = await Promise.all(oneTurn(store, 30))
  const after = writes()
  t.same(answers[1], { ok: true, value: 'v0' })
  const made = after.write + after.writev - before.write - before.writev
  t.ok(made > 1, `more than one write for 62 calls (${made})`)
})

t.test('a client that auto-pipelines keeps its own batching: the store does not cork its socket', async (t) => {
  const redis = await ownRedis(t)
  const { client, store } = await watched(t, redis.url, undefined, { enableAutoPipelining: true })
  const pending = store.get('bw:missing')
  t.equal(client.stream.writableCorked, 0, 'not corked by the store')
  t.same(await pending, { ok: true, value: null })
})

t.test('a socket corked for a pass is released once the pass has run its callbacks', async (t) => {
  const redis = await ownRedis(t)
  const { client, store } = await watched(t, redis.url)
  const pending = store.get('bw:missing')
  t.equal(client.stream.writableCorked, 1, 'corked while the pass sends')
  await new Promise((resolve) => { setImmediate(resolve) })
  t.equal(client.stream.writableCorked, 0, 'released at the end of the pass')
  t.same(await pending, { ok: true, value: null })
})

t.test('the connection lost in the pass its commands were corked: each call settles as a Result, and later calls are served', async (t) => {
  const redis = await ownRedis(t)
  const { client, store } = await watched(t, redis.url)
  t.ok((await store.set('bw:kept', 'yes')).ok)
  const calls = [store.get('bw:kept'), store.get('bw:kept'), store.set('bw:other', 'x')]
  client.stream.destroy()
  const settled = await Promise.all(calls)
  for (const r of settled) t.ok(r.ok || typeof r.error.code === 'string', 'a value or a Failure with a code')
  await new Promise((resolve) => { client.once('ready', resolve) })
  t.same(await store.get('bw:kept'), { ok: true, value: 'yes' })
})

t.test('under fake timers (node:test mock timers) the corked commands still leave, and answer', async (t) => {
  const redis = await ownRedis(t)
  const { store } = await watched(t, redis.url)
  mock.timers.enable({ apis: ['setImmediate', 'setTimeout', 'Date'] })
  t.teardown(() => { mock.timers.reset() })
  const answers = await Promise.all([store.set('bw:faked', 'yes'), store.get('bw:faked')])
  t.same(answers, [{ ok: true, value: true }, { ok: true, value: 'yes' }], 'no fake clock had to move')
})

t.test('a command sent at the end of a pass (an EndOfTurn callback, as the rate limiter\'s batched takes) is written at once', async (t) => {
  const redis = await ownRedis(t)
  const { client, store } = await watched(t, redis.url)
  const corked: number[] = []
  let pending: Promise<unknown> | undefined
  const endOfPass = new EndOfTurn(() => {
    pending = store.get('bw:late')
    corked.push(client.stream.writableCorked, client.stream.writableLength)
  })
  endOfPass.schedule()
  await until('the callback ran', () => pending !== undefined)
  t.same(corked, [0, 0], 'not corked, nothing left in the buffer: the GET is on its way')
  t.same(await pending, { ok: true, value: null })
})
