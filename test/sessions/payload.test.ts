import { Type } from '@sinclair/typebox'
import t from 'tap'
import { SchemaCodec, storedUserId } from '../../lib/session/codec.js'
import { SessionCipher } from '../../lib/session/crypto.js'
import { fromJsonData, toJsonData } from '../../lib/session/json.js'
import { sessionIndexAddScript, sessionListScript } from '../../lib/session/scripts.js'
import { storeBackends } from '../helpers/backends.js'
import { KEY_A, sessionCache } from '../helpers/sessions.js'
import { memoryStore } from '../helpers/stores.js'

// Payloads at the edges: JSON data that gives back what went in, a schema of the user's own read back from odd
// bytes, the store's cookies, and the Cluster-only index script on every backend.

const backends = await storeBackends('pl')

t.test('JSON data: toJSON is honoured, undefined properties are absent, markers stay data', async (t) => {
  class Money { constructor (readonly cents: number) {} toJSON (): string { return `${this.cents / 100} EUR` } }
  const encoded = toJsonData({ price: new Money(1250), gone: undefined, when: new Date(42), list: [{ $esc: 1 }] })
  t.same(encoded, { ok: true, value: { price: '12.5 EUR', when: { $date: 42 }, list: [{ $esc: [['$esc', 1]] }] } })
  t.same(fromJsonData(JSON.parse(JSON.stringify(encoded.ok ? encoded.value : null))), { price: '12.5 EUR', when: new Date(42), list: [{ $esc: 1 }] })
  t.match(toJsonData(Symbol('s')), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /^data: a symbol/ } })
})

t.test('JSON data already in its stored form is taken as it is; anything else is copied, or refused', async (t) => {
  const plain = { user: 'ann', visits: 2, cookie: { expires: '2030-01-01T00:00:00.000Z', secure: false, domain: null, partitioned: undefined }, tags: ['a', 1.5, true, null], none: Object.create(null) }
  t.equal((toJsonData(plain) as { value: unknown }).value, plain, 'no copy')
  for (const [value, stored] of [
    [{ when: new Date(42) }, { when: { $date: 42 } }], // a Date, nested
    [[{ $date: 1 }], [{ $esc: [['$date', 1]] }]], // shaped like a marker, in an array
    [{ a: { $esc: 'x', gone: undefined } }, { a: { $esc: [['$esc', 'x']] } }], // one defined key is the marker's
    [{ n: Object(3n) }, { n: {} }], // a boxed value, not a plain object: the copy decides, as it always did
    [{ m: new Map([[1, 2]]) }, { m: {} }]
  ] as const) {
    const encoded = toJsonData(value)
    t.not(encoded.ok && encoded.value, value, 'copied')
    t.same(encoded, { ok: true, value: stored })
  }
  for (const [value, where] of [[{ a: [1, undefined] }, /data\.a\.1: undefined/], [{ a: { b: Infinity } }, /data\.a\.b: Infinity/], [{ f: () => 1 }, /data\.f: a function/]] as const) {
    t.match(toJsonData(value), { ok: false, error: { code: 'INVALID_ARGUMENT', message: where } })
  }
})

t.test('a schema of your own: what a read refuses is DECODE, counted', async (t) => {
  const Mine = Type.Object({ id: Type.String(), userId: Type.Union([Type.String(), Type.Null()]), n: Type.Integer() })
  const codec = new SchemaCodec<{ id: string, userId: string | null, n: number }>(Mine)
  for (const [stored, reason] of [
    ['[2,"x"]', /not in this schema's form/],
    ['[3,null]', /not in this schema's form/],
    ['{"id":"a"}', /not in this schema's form/],
    ['[3,{"id":"a","userId":null,"n":"one"}]', /fails the schema.*n:/],
    ['[3,{"id":"b","userId":null,"n":1}]', /another id/]
  ] as const) {
    const r = codec.decode('a', stored)
    t.equal(!r.ok && r.error.code, 'DECODE', stored)
    t.match(!r.ok && r.error.message, reason)
  }
  const { store, close } = memoryStore('pl2')
  t.teardown(close)
  const cache = sessionCache(store).withSchema(Mine)
  await cache.set({ id: 'a', userId: null, n: 1 })
  await cache.store.set((cache.keyOf('a') as { value: string }).value, '[3,{"id":"a","userId":null,"n":"one"}]')
  t.same(await cache.get('a'), { ok: true, value: null })
  t.equal(cache.metrics.stats('sessions').errors, 1, 'counted')
})

t.test('storedUserId reads the user of either form, sealed or not, and nothing from garbage', async (t) => {
  const cipher = new SessionCipher([{ id: 'k', key: KEY_A }])
  t.equal(storedUserId('a', '[3,{"id":"a","userId":"u1"}]'), 'u1')
  t.equal(storedUserId('a', cipher.encrypt('[3,{"id":"a","userId":"u2"}]', 'a'), cipher), 'u2')
  t.equal(storedUserId('a', '[2,"a","u3"]'), 'u3')
  for (const garbage of ['nope', '{"userId":"u"}', '[3,null]', '[3,{"userId":5}]']) t.equal(storedUserId('a', garbage), undefined, garbage)
})

for (const { name, store } of backends) {
  t.test(`the index script a Cluster uses answers the same here: ${name}`, async (t) => {
    t.same(await store.runScript(sessionIndexAddScript, ['pl:sess-idx:{u}'], ['s1', 60_000]), { ok: true, value: true })
    t.same(await store.runScript(sessionListScript, ['pl:sess-idx:{u}'], []), { ok: true, value: ['s1'] })
    const ttl = await store.ttl('pl:sess-idx:{u}')
    t.ok(ttl.ok && ttl.value !== null && ttl.value > 50 && ttl.value <= 60, 'the index lives as long as its entry')
  })

  t.test(`the store's cookies, whatever their form: ${name}`, async (t) => {
    const cache = sessionCache(store, { ttl: 3600 })
    const sessions = cache.fastifySessionStore()
    const ttlOf = async (sid: string): Promise<number> => {
      const ttl = await store.ttl((cache.keyOf(sid) as { value: string }).value)
      return ttl.ok && ttl.value !== null ? ttl.value : -1
    }
    await sessions.set('epoch', { cookie: { expires: Date.now() + 120_000 } })
    t.ok(await ttlOf('epoch') <= 121.2 && await ttlOf('epoch') > 100, 'expires as epoch ms (and the 1% headroom)')
    await sessions.set('bad-date', { cookie: { expires: 'not a date', maxAge: 90_000 } })
    t.ok(await ttlOf('bad-date') <= 90.9 && await ttlOf('bad-date') > 80, 'an unreadable expires: maxAge (and the 1% headroom)')
    await sessions.set('no-cookie', { a: 1 })
    t.same(await sessions.get('no-cookie'), { a: 1 })
    t.ok(await ttlOf('no-cookie') > 3500, 'no cookie: the cache ttl')
    await sessions.set('null', null as never)
    t.same(await sessions.get('null'), {})
    const nobody = cache.fastifySessionStore({ userIdOf: () => '' })
    await nobody.set('anonymous', { cookie: {} })
    t.ok(await nobody.get('anonymous'), 'an empty user name is nobody: stored, not indexed')
    await sessions.touch('no-cookie', {})
    t.ok(await ttlOf('no-cookie') > 3500, 'a touch without a cookie: the cache ttl')
  })
}
