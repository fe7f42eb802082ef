import t from 'tap'
import { sleep } from '../../harness/wait.js'
import { storeBackends } from '../helpers/backends.js'
import { zaddScript } from '../helpers/scripts.js'

// One suite, every backend: the memory store and a Redis Cluster must give a
// single Redis node's answers.
for (const { name, store } of await storeBackends('test', { cluster: true })) {
  t.test(`store contract: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })

    t.test('ping answers with a round-trip time', async (t) => {
      const pong = await store.ping()
      t.ok(pong.ok && pong.value >= 0)
      const health = await store.health()
      t.equal(health.up, true, 'health is up')
      t.type(health.latencyMs, 'number')
    })

    t.test('set then get', async (t) => {
      t.same(await store.set('test:a', 'one'), { ok: true, value: true })
      t.same(await store.get('test:a'), { ok: true, value: 'one' })
    })

    t.test('a missing key is a miss, not a failure', async (t) => {
      t.same(await store.get('test:nope'), { ok: true, value: null })
      t.same(await store.getJson('test:nope'), { ok: true, value: null })
    })

    t.test('JSON round trip', async (t) => {
      const value = { n: 1, s: 'x', list: [1, 'two', null], nested: { ok: true } }
      t.same(await store.setJson('test:j', value), { ok: true, value: true })
      t.same(await store.getJson('test:j'), { ok: true, value })
    })

    t.test('invalid JSON is a DECODE failure', async (t) => {
      await store.set('test:bad', '{not json')
      const r = await store.getJson('test:bad')
      t.equal(r.ok, false)
      t.equal(!r.ok && r.error.code, 'DECODE')
    })

    t.test('values JSON cannot encode are ENCODE failures and are not written', async (t) => {
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      for (const value of [10n, cyclic, undefined, () => 1]) {
        const r = await store.setJson('test:enc', value)
        t.equal(!r.ok && r.error.code, 'ENCODE')
      }
      t.same(await store.exists('test:enc'), { ok: true, value: false })
    })

    t.test('delete existing and missing', async (t) => {
      await store.set('test:d', 'x')
      t.same(await store.delete('test:d'), { ok: true, value: true })
      t.same(await store.delete('test:d'), { ok: true, value: false })
      t.same(await store.get('test:d'), { ok: true, value: null })
    })

    t.test('exists', async (t) => {
      await store.set('test:e', 'x')
      t.same(await store.exists('test:e'), { ok: true, value: true })
      t.same(await store.exists('test:e2'), { ok: true, value: false })
    })

    t.test('TTL set and read, fractions kept to the millisecond', async (t) => {
      await store.set('test:t', 'x', { ttl: 60 })
      const ttl = await store.ttl('test:t')
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 59 && ttl.value <= 60, `ttl ${JSON.stringify(ttl)}`)
      await store.set('test:f', 'x', { ttl: 0.15 })
      const short = await store.ttl('test:f')
      t.ok(short.ok && short.value !== null && short.value > 0 && short.value <= 0.15)
      await sleep(200)
      t.same(await store.get('test:f'), { ok: true, value: null }, 'expired')
    })

    t.test('ttl of a missing key or one without expiry is null', async (t) => {
      await store.set('test:p', 'x')
      t.same(await store.ttl('test:p'), { ok: true, value: null })
      t.same(await store.ttl('test:missing'), { ok: true, value: null })
    })

    t.test('set without ttl clears an earlier expiry', async (t) => {
      await store.set('test:c', 'x', { ttl: 10 })
      await store.set('test:c', 'y')
      t.same(await store.ttl('test:c'), { ok: true, value: null })
    })

    t.test('expire existing and missing', async (t) => {
      await store.set('test:x', 'v')
      t.same(await store.expire('test:x', 30), { ok: true, value: true })
      const ttl = await store.ttl('test:x')
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 29 && ttl.value <= 30)
      t.same(await store.expire('test:none', 30), { ok: true, value: false })
    })

    t.test('bad TTLs are INVALID_ARGUMENT and nothing is written', async (t) => {
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 0.0001]) {
        const r = await store.set('test:bt', 'x', { ttl })
        t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', `ttl ${ttl}`)
        const e = await store.expire('test:bt', ttl)
        t.equal(!e.ok && e.error.code, 'INVALID_ARGUMENT')
      }
      t.same(await store.exists('test:bt'), { ok: true, value: false })
    })

    t.test('increment and decrement by 1 and by custom amounts', async (t) => {
      t.same(await store.increment('test:n'), { ok: true, value: 1 })
      t.same(await store.increment('test:n', 5), { ok: true, value: 6 })
      t.same(await store.decrement('test:n'), { ok: true, value: 5 })
      t.same(await store.decrement('test:n', 10), { ok: true, value: -5 })
      t.same(await store.increment('test:n', -1), { ok: true, value: -6 })
    })

    t.test('increment keeps the TTL', async (t) => {
      await store.set('test:kt', '1', { ttl: 30 })
      await store.increment('test:kt')
      const ttl = await store.ttl('test:kt')
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 29)
    })

    t.test('increment of a non-integer or by a non-integer is INVALID_ARGUMENT', async (t) => {
      await store.set('test:s', 'abc')
      const r = await store.increment('test:s')
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      const f = await store.increment('test:s2', 1.5)
      t.equal(!f.ok && f.error.code, 'INVALID_ARGUMENT')
      const d = await store.decrement('test:s2', Number.NaN)
      t.equal(!d.ok && d.error.code, 'INVALID_ARGUMENT')
    })

    t.test('pattern delete returns the count and leaves other keys', async (t) => {
      await store.setMany([['test:users:1', 'a'], ['test:users:2', 'b'], ['test:users:3', 'c'], ['test:posts:1', 'p']])
      t.same(await store.deletePattern('test:users:*'), { ok: true, value: 3 })
      t.same(await store.getMany(['test:users:1', 'test:posts:1']), { ok: true, value: [null, 'p'] })
      t.same(await store.deletePattern('test:users:*'), { ok: true, value: 0 })
    })

    t.test('pattern delete across many SCAN pages', async (t) => {
      const entries: Array<[string, string]> = []
      for (let i = 0; i < 2500; i++) entries.push([`test:many:${i}`, String(i)])
      await store.setMany(entries)
      t.same(await store.deletePattern('test:many:*'), { ok: true, value: 2500 })
    })

    t.test('getMany with a missing key', async (t) => {
      await store.set('test:m1', 'one')
      await store.set('test:m3', 'three')
      t.same(await store.getMany(['test:m1', 'test:m2', 'test:m3']), { ok: true, value: ['one', null, 'three'] })
    })

    t.test('empty batches answer at once', async (t) => {
      t.same(await store.getMany([]), { ok: true, value: [] })
      t.same(await store.setMany([]), { ok: true, value: true })
      t.same(await store.setMany(new Map()), { ok: true, value: true })
    })

    t.test('setMany with TTL', async (t) => {
      t.same(await store.setMany(new Map([['test:b1', '1'], ['test:b2', '2']]), { ttl: 20 }), { ok: true, value: true })
      for (const key of ['test:b1', 'test:b2']) {
        const ttl = await store.ttl(key)
        t.ok(ttl.ok && ttl.value !== null && ttl.value > 19 && ttl.value <= 20)
      }
      const bad = await store.setMany([['test:b3', 'x']], { ttl: -5 })
      t.equal(!bad.ok && bad.error.code, 'INVALID_ARGUMENT')
    })

    t.test('getDel twice: the value, then nothing', async (t) => {
      await store.set('test:g', 'once')
      t.same(await store.getDel('test:g'), { ok: true, value: 'once' })
      t.same(await store.getDel('test:g'), { ok: true, value: null })
    })

    t.test('replace writes only over a key that is there, keeping its expiry', async (t) => {
      t.same(await store.replace('test:r', 'new'), { ok: true, value: null }, 'absent: nothing replaced')
      t.same(await store.exists('test:r'), { ok: true, value: false }, 'and nothing written')
      await store.set('test:r', 'old', { ttl: 20 })
      t.same(await store.replace('test:r', 'new'), { ok: true, value: 'old' }, 'the value it replaced')
      t.same(await store.get('test:r'), { ok: true, value: 'new' })
      const ttl = await store.ttl('test:r')
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 19 && ttl.value <= 20, `the expiry kept: ${JSON.stringify(ttl)}`)
      const big = await store.replace('test:r', 'x'.repeat(1024 * 1024 + 1))
      t.equal(!big.ok && big.error.code, 'INVALID_ARGUMENT', 'the size limit holds')
      t.same(await store.get('test:r'), { ok: true, value: 'new' })
    })

    t.test('clear leaves keys outside the prefix', async (t) => {
      await store.set('test:in', 'x')
      await store.set('other:out', 'y')
      await store.set('testing:near', 'z')
      const cleared = await store.clear()
      t.same(cleared, { ok: true, value: 1 })
      t.same(await store.get('other:out'), { ok: true, value: 'y' })
      t.same(await store.get('testing:near'), { ok: true, value: 'z' })
      await store.delete('other:out')
      await store.delete('testing:near')
    })

    t.test('values over the size limit are refused and not written', async (t) => {
      const big = 'x'.repeat(1024 * 1024 + 1)
      const r = await store.set('test:big', big)
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      const multi = 'é'.repeat(600 * 1024) // 1.2 MB in UTF-8, 600k characters
      const m = await store.set('test:big', multi)
      t.equal(!m.ok && m.error.code, 'INVALID_ARGUMENT')
      t.same(await store.exists('test:big'), { ok: true, value: false })
      t.same(await store.set('test:ok', 'x'.repeat(1024 * 1024)), { ok: true, value: true })
    })

    t.test('empty keys and non-string values are INVALID_ARGUMENT', async (t) => {
      const calls = [
        store.get(''), store.delete(''), store.exists(''), store.ttl(''), store.expire('', 1), store.increment(''),
        store.getDel(''), store.replace('', 'x'), store.deletePattern(''), store.getMany(['']), store.setMany([['', 'x']]),
        store.set('test:v', 42 as unknown as string), store.getMany('nope' as unknown as string[])
      ]
      for (const r of await Promise.all(calls)) t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
    })

    t.test('a key of another type is INVALID_ARGUMENT (WRONGTYPE), and MGET says nil', async (t) => {
      const tmp = 'test:zs'
      const zadd = await store.runScript(zaddScript, [tmp], ['1', 'm'])
      t.ok(zadd.ok)
      const r = await store.get(tmp)
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      t.same(await store.getMany([tmp]), { ok: true, value: [null] })
      await store.set('test:str', 'x')
      const inScript = await store.runScript(zaddScript, ['test:str'], ['1', 'm'])
      t.equal(!inScript.ok && inScript.error.code, 'INVALID_ARGUMENT', 'also inside a script')
    })
  })
}
