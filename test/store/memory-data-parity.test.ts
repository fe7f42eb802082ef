import t from 'tap'
import { MemoryData } from '../../lib/store/memory-data.js'
import { fileRedis } from '../helpers/backends.js'

// The primitives script twins run on must answer as Redis does: each step runs
// on a real Redis and on MemoryData, and the answers must match.
const client = (await fileRedis()).client()

type Step = [string, (m: MemoryData) => unknown, () => Promise<unknown>]
// errors compare by kind: the wording differs, the kind must not
const errorKind = (e: Error): string => /WRONGTYPE/.test(e.message) ? 'WRONGTYPE' : /not an integer/.test(e.message) ? 'not an integer' : e.message
const wrongType = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'ok', errorKind)
const memWrongType = (fn: () => unknown): string => { try { fn(); return 'ok' } catch (e) { return errorKind(e as Error) } }
const zmax = async (key: string): Promise<number | null> => {
  const r = await client.zrange(key, '-1', '-1', 'WITHSCORES')
  return r.length === 0 ? null : Number(r[1])
}

t.test('strings, expiry and counters', async (t) => {
  await client.flushdb()
  const m = new MemoryData(1000)
  const steps: Step[] = [
    ['get missing', (m) => m.get('s'), () => client.get('s')],
    ['set', (m) => { m.set('s', 'v'); return 'OK' }, () => client.set('s', 'v')],
    ['get', (m) => m.get('s'), () => client.get('s')],
    ['exists', (m) => m.exists('s') ? 1 : 0, () => client.exists('s')],
    ['pttl no expiry', (m) => m.pttl('s'), () => client.pttl('s')],
    ['pttl missing', (m) => m.pttl('nope'), () => client.pttl('nope')],
    ['pexpire missing', (m) => m.pexpire('nope', 1000) ? 1 : 0, () => client.pexpire('nope', 1000)],
    ['pexpireat in the past deletes', (m) => { m.set('p', 'x'); return m.pexpireat('p', 1) ? 1 : 0 }, async () => { await client.set('p', 'x'); return await client.pexpireat('p', 1) }],
    ['gone after past expiry', (m) => m.exists('p') ? 1 : 0, () => client.exists('p')],
    ['pexpireat future', (m) => m.pexpireat('s', Date.now() + 60_000) ? 1 : 0, () => client.pexpireat('s', Date.now() + 60_000)],
    ['pttl bucket', (m) => Math.ceil(m.pttl('s') / 10_000), async () => Math.ceil((await client.pttl('s')) / 10_000)],
    ['incrBy new', (m) => m.incrBy('n', 5), () => client.incrby('n', 5)],
    ['incrBy keeps expiry', (m) => { m.pexpire('n', 50_000); m.incrBy('n', 1); return m.pttl('n') > 0 }, async () => { await client.pexpire('n', 50_000); await client.incrby('n', 1); return (await client.pttl('n')) > 0 }],
    ['incrBy non-integer', (m) => memWrongType(() => m.incrBy('s', 1)), () => wrongType(client.incrby('s', 1))],
    ['del', (m) => m.del('s'), () => client.del('s')],
    ['del missing', (m) => m.del('s'), () => client.del('s')],
    ['getDel', (m) => { m.set('g', '1'); return [m.getDel('g'), m.getDel('g')] }, async () => { await client.set('g', '1'); return [await client.getdel('g'), await client.getdel('g')] }],
    ['replace missing', (m) => [m.replace('r', 'x'), m.get('r')], async () => [await client.set('r', 'x', 'KEEPTTL', 'XX', 'GET'), await client.get('r')]],
    ['replace keeps expiry', (m) => { m.set('r', 'a', 50_000); return [m.replace('r', 'b'), m.get('r'), Math.ceil(m.pttl('r') / 10_000)] }, async () => { await client.set('r', 'a', 'PX', 50_000); return [await client.set('r', 'b', 'KEEPTTL', 'XX', 'GET'), await client.get('r'), Math.ceil((await client.pttl('r')) / 10_000)] }],
    ['replace another type', (m) => { m.zadd('zr', 1, 'x'); return memWrongType(() => m.replace('zr', 'x')) }, async () => { await client.zadd('zr', 1, 'x'); return await wrongType(client.set('zr', 'x', 'KEEPTTL', 'XX', 'GET')) }],
    ['getMany', (m) => { m.set('a', '1'); m.zadd('z0', 1, 'x'); return m.getMany(['a', 'b', 'z0']) }, async () => { await client.set('a', '1'); await client.zadd('z0', 1, 'x'); return await client.mget('a', 'b', 'z0') }]
  ]
  for (const [name, mem, real] of steps) t.same(mem(m), await real(), name)
  t.throws(() => m.incrBy('n', Number.MAX_SAFE_INTEGER), /overflow/, 'beyond safe integers is refused')
})

t.test('sorted sets', async (t) => {
  await client.flushdb()
  const m = new MemoryData(1000)
  const steps: Step[] = [
    ['zadd new', (m) => m.zadd('z', 3, 'c'), () => client.zadd('z', 3, 'c')],
    ['zadd more', (m) => m.zadd('z', 1, 'a') + m.zadd('z', 2, 'b') + m.zadd('z', 2, 'bb'), async () => (await client.zadd('z', 1, 'a')) + (await client.zadd('z', 2, 'b')) + (await client.zadd('z', 2, 'bb'))],
    ['zadd update', (m) => m.zadd('z', 5, 'a'), () => client.zadd('z', 5, 'a')],
    ['zadd ties', (m) => m.zadd('z', 2, 'bc') + m.zadd('z', 2, 'ba'), async () => (await client.zadd('z', 2, 'bc')) + (await client.zadd('z', 2, 'ba'))],
    ['zscore', (m) => m.zscore('z', 'a'), async () => Number(await client.zscore('z', 'a'))],
    ['zscore missing member', (m) => m.zscore('z', 'q'), () => client.zscore('z', 'q')],
    ['zscore missing key', (m) => m.zscore('nz', 'q'), () => client.zscore('nz', 'q')],
    ['zcard', (m) => m.zcard('z'), () => client.zcard('z')],
    ['zcard missing', (m) => m.zcard('nz'), () => client.zcard('nz')],
    ['zrangeByScore ordered by score then member', (m) => m.zrangeByScore('z', 0, 10), () => client.zrangebyscore('z', 0, 10)],
    ['zrangeByScore window', (m) => m.zrangeByScore('z', 2, 3), () => client.zrangebyscore('z', 2, 3)],
    ['zrangeByScore missing', (m) => m.zrangeByScore('nz', 0, 1), () => client.zrangebyscore('nz', 0, 1)],
    ['zmaxScore', (m) => m.zmaxScore('z'), () => zmax('z')],
    ['zmaxScore missing', (m) => m.zmaxScore('nz'), () => zmax('nz')],
    ['zrem', (m) => m.zrem('z', 'c') + m.zrem('z', 'c'), async () => (await client.zrem('z', 'c')) + (await client.zrem('z', 'c'))],
    ['zrem missing key', (m) => m.zrem('nz', 'c'), () => client.zrem('nz', 'c')],
    ['zremRangeByScore', (m) => m.zremRangeByScore('z', 0, 2), () => client.zremrangebyscore('z', 0, 2)],
    ['zremRangeByScore missing', (m) => m.zremRangeByScore('nz', 0, 2), () => client.zremrangebyscore('nz', 0, 2)],
    ['empty set vanishes', (m) => { m.zrem('z', 'a'); return m.exists('z') ? 1 : 0 }, async () => { await client.zrem('z', 'a'); return await client.exists('z') }],
    ['zremRangeByScore empties', (m) => { m.zadd('y', 1, 'x'); m.zremRangeByScore('y', 0, 5); return m.exists('y') ? 1 : 0 }, async () => { await client.zadd('y', 1, 'x'); await client.zremrangebyscore('y', 0, 5); return await client.exists('y') }],
    ['WRONGTYPE on a string', (m) => { m.set('str', 'x'); return memWrongType(() => m.zadd('str', 1, 'a')) }, async () => { await client.set('str', 'x'); return await wrongType(client.zadd('str', 1, 'a')) }],
    ['WRONGTYPE get on a set', (m) => { m.zadd('z2', 1, 'a'); return memWrongType(() => m.get('z2')) }, async () => { await client.zadd('z2', 1, 'a'); return await wrongType(client.get('z2')) }],
    ['WRONGTYPE incrBy on a set', (m) => memWrongType(() => m.incrBy('z2', 1)), () => wrongType(client.incrby('z2', 1))]
  ]
  for (const [name, mem, real] of steps) t.same(mem(m), await real(), name)
})

t.test('hashes', async (t) => {
  await client.flushdb()
  const m = new MemoryData(1000)
  const steps: Step[] = [
    ['hset new', (m) => m.hset('h', 'f', '1'), () => client.hset('h', 'f', '1')],
    ['hset update', (m) => m.hset('h', 'f', '2'), () => client.hset('h', 'f', '2')],
    ['hget', (m) => m.hget('h', 'f'), () => client.hget('h', 'f')],
    ['hget missing', (m) => m.hget('h', 'x'), () => client.hget('h', 'x')],
    ['hget missing key', (m) => m.hget('nh', 'x'), () => client.hget('nh', 'x')],
    ['hgetall', (m) => { m.hset('h', 'g', '3'); return m.hgetall('h') }, async () => { await client.hset('h', 'g', '3'); return await client.hgetall('h') }],
    ['hgetall missing', (m) => m.hgetall('nh'), () => client.hgetall('nh')],
    ['hdel', (m) => m.hdel('h', 'f') + m.hdel('h', 'f'), async () => (await client.hdel('h', 'f')) + (await client.hdel('h', 'f'))],
    ['hdel missing key', (m) => m.hdel('nh', 'f'), () => client.hdel('nh', 'f')],
    ['empty hash vanishes', (m) => { m.hdel('h', 'g'); return m.exists('h') ? 1 : 0 }, async () => { await client.hdel('h', 'g'); return await client.exists('h') }],
    ['WRONGTYPE', (m) => { m.set('s', 'x'); return memWrongType(() => m.hset('s', 'f', 'v')) }, async () => { await client.set('s', 'x'); return await wrongType(client.hset('s', 'f', 'v')) }]
  ]
  for (const [name, mem, real] of steps) t.same(mem(m), await real(), name)
})

t.test('glob matching selects what SCAN MATCH selects', async (t) => {
  const keys = ['user:1', 'user:2', 'user:10', 'usr:1', 'user:a', 'user:*', 'user:[x]', 'admin:1', 'user:b', 'user:^']
  const patterns = ['user:*', 'user:?', 'user:[12]', 'user:[^1]', 'user:[a-b]', 'user:\\*', 'us?r:*', '*:1', 'user:[x', 'user:[^^]', '*']
  const m = new MemoryData(1000)
  for (const pattern of patterns) {
    await client.flushdb()
    for (const key of keys) { await client.set(key, '1'); m.set(key, '1') }
    const [, found] = await client.scan('0', 'MATCH', pattern, 'COUNT', 1000)
    t.equal(m.deleteMatching(pattern), found.length, `count for ${pattern}`)
    for (const key of keys) t.equal(m.exists(key), !found.includes(key), `${key} under ${pattern}`)
  }
})

t.test('bounded: the least recently used key goes first', async (t) => {
  const m = new MemoryData(2)
  m.set('a', '1'); m.set('b', '2')
  m.get('a')
  m.set('c', '3')
  t.same(m.getMany(['a', 'b', 'c']), ['1', null, '3'])
  m.clearAll()
  t.equal(m.exists('a'), false)
})
