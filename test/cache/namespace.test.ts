import { Type, type Static } from '@sinclair/typebox'
import t from 'tap'
import { Cache } from '../../lib/cache.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { fileRedis, storeBackends } from '../helpers/backends.js'
import { commandCalls } from '../helpers/commandstats.js'
import { redisStore } from '../helpers/stores.js'

// Typed namespaces: values checked against their schema on read, invalidateAll
// and invalidateTags in a constant number of commands however many keys, and
// getOrSet that never lets a value loaded across an invalidation survive it.

const AccountSchema = Type.Object({ id: Type.String(), balance: Type.Number() }, { additionalProperties: false })
type Account = Static<typeof AccountSchema>

for (const { name, store } of await storeBackends('ns')) {
  t.test(`namespaces on ${name}`, async (t) => {
    const metrics = new CacheMetrics()
    const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'ns' }), metrics }))
    t.beforeEach(async () => { await store.clear(); metrics.reset() })

    t.test('get, set, delete; one object per name; raw keys fenced off', async (t) => {
      const accounts = cache.namespace<Account>('accounts', { ttl: 60, schema: AccountSchema })
      t.equal(cache.namespace('accounts'), accounts)
      t.same(await accounts.get('a1'), { ok: true, value: null })
      t.same(await accounts.set('a1', { id: 'a1', balance: 3 }), { ok: true, value: true })
      t.same(await accounts.get('a1'), { ok: true, value: { id: 'a1', balance: 3 } })
      t.same(await accounts.delete('a1'), { ok: true, value: true })
      t.same(await accounts.get('a1'), { ok: true, value: null })
      t.match(await cache.get('accounts:v:a1'), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /typed namespace/ } })
      t.match(await cache.set('accounts:x', '1'), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(metrics.stats('accounts'), { hits: 1, misses: 2 })
      t.throws(() => cache.namespace('sess'), /name must match/)
      t.throws(() => cache.namespace('bad name'), /name must match/)
      t.throws(() => cache.namespace('neg', { ttl: -1 }), /ttl/)
      const pieces = await store.getMany(['ns:accounts:g'])
      t.ok(pieces.ok && pieces.value[0] !== null, 'the generation key exists once a value was written')
    })

    t.test('a raw key read before its namespace became typed is refused from then on', async (t) => {
      t.same(await cache.set('late:k', '1'), { ok: true, value: true })
      t.same(await cache.get('late:k'), { ok: true, value: '1' })
      t.same(await cache.getOrSet('late:j', () => 2), { ok: true, value: 2 })
      t.same(await cache.getOrSet('late:j', () => 3), { ok: true, value: 2 }, 'a hit, remembered by the hit path')
      cache.namespace<number>('late', { ttl: 60 })
      t.match(await cache.get('late:k'), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /typed namespace/ } })
      t.match(await cache.getOrSet('late:j', () => 4), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /typed namespace/ } })
    })

    t.test('a value that fails the schema is a counted miss, and getOrSet reloads it', async (t) => {
      const accounts = cache.namespace<Account>('schemed', { ttl: 60, schema: AccountSchema })
      const loose = cache.namespace<unknown>('schemed-raw', { ttl: 60 })
      t.ok(loose)
      await accounts.set('a1', { id: 'a1', balance: 1 })
      // an older deployment wrote a different shape under the same key
      const raw = await store.get('ns:schemed:v:a1')
      await store.set('ns:schemed:v:a1', (raw.ok ? raw.value as string : '').replace('"balance":1', '"balance":"one"'))
      t.same(await accounts.get('a1'), { ok: true, value: null })
      t.equal(metrics.stats('schemed').misses, 1)
      let calls = 0
      t.same(await accounts.getOrSet('a1', () => { calls++; return { id: 'a1', balance: 2 } }), { ok: true, value: { id: 'a1', balance: 2 } })
      t.equal(calls, 1)
      t.same(await accounts.get('a1'), { ok: true, value: { id: 'a1', balance: 2 } })
    })

    t.test('invalidateAll makes every value a miss; new writes are valid again', async (t) => {
      const ns = cache.namespace<number>('versions', { ttl: 60 })
      for (let i = 0; i < 10; i++) await ns.set(`k${i}`, i)
      t.same(await ns.get('k3'), { ok: true, value: 3 })
      t.same(await ns.invalidateAll(), { ok: true, value: true })
      for (let i = 0; i < 10; i++) t.same(await ns.get(`k${i}`), { ok: true, value: null })
      await ns.set('k3', 33)
      t.same(await ns.get('k3'), { ok: true, value: 33 })
    })

    t.test('invalidateTags makes the values filed under any of them a miss, and only those', async (t) => {
      const ns = cache.namespace<string>('lists', { ttl: 60 })
      await ns.set('u1:accounts', 'a', { tags: ['user:1'] })
      await ns.set('u1:cards', 'b', { tags: ['user:1', 'cards'] })
      await ns.set('u2:cards', 'c', { tags: ['user:2', 'cards'] })
      await ns.set('plain', 'd')
      t.same(await ns.invalidateTags(['user:1']), { ok: true, value: true })
      t.same(await ns.get('u1:accounts'), { ok: true, value: null })
      t.same(await ns.get('u1:cards'), { ok: true, value: null })
      t.same(await ns.get('u2:cards'), { ok: true, value: 'c' })
      t.same(await ns.get('plain'), { ok: true, value: 'd' })
      await ns.invalidateTags(['cards'])
      t.same(await ns.get('u2:cards'), { ok: true, value: null })
      // getOrSet files under tags too
      let calls = 0
      const load = (): string => { calls++; return 'x' }
      await ns.getOrSet('u3', load, { tags: ['user:3'] })
      await ns.getOrSet('u3', load, { tags: ['user:3'] })
      t.equal(calls, 1)
      await ns.invalidateTags(['user:3'])
      await ns.getOrSet('u3', load, { tags: ['user:3'] })
      t.equal(calls, 2)
      t.match(await ns.set('x', 'y', { tags: ['a,b'] }), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.invalidateTags('oops' as unknown as string[]), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
    })

    t.test('a value loaded across an invalidation is not valid after it', async (t) => {
      const ns = cache.namespace<string>('racy', { ttl: 60 })
      const r = await ns.getOrSet('k', async () => {
        // the source changes and the namespace is invalidated while this load is in flight
        await ns.invalidateAll()
        return 'loaded before the change'
      })
      t.same(r, { ok: true, value: 'loaded before the change' }, 'the caller gets its answer')
      t.same(await ns.get('k'), { ok: true, value: null }, 'but it was written under the old generation')
    })

    t.test('namespace defaults apply to getOrSet and wrap', async (t) => {
      const ns = cache.namespace<string | null>('defaults', { ttl: 30, negativeTtl: 5 })
      let calls = 0
      const find = ns.wrap(async (id: string) => { calls++; return id === 'none' ? null : id }, { key: (id) => id })
      t.same(await find('none'), { ok: true, value: null })
      t.same(await find('none'), { ok: true, value: null })
      t.equal(calls, 1, 'negativeTtl from the namespace')
      t.match(await ns.getOrSet('', () => 'x'), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.getOrSet('k', () => 'x', { ttl: -1 }), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.getOrSet('k', () => 'x', { tags: [''] }), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.get(''), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.set('', 'x'), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.set('k', 'x', { ttl: 0 }), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.set('k', 'x', { tags: [''] }), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await ns.delete(''), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
    })
  })
}

t.test('invalidateAll and invalidateTags cost the same commands at 10 and 10,000 keys (INFO commandstats)', async (t) => {
  const redis = await fileRedis()
  // a generous deadline: a write timed out on a loaded machine would still reach Redis after RESETSTAT
  const { store, close } = await redisStore(redis, 'cmd', { commandTimeoutMs: 20_000 })
  t.teardown(close)
  // the measuring commands (CONFIG RESETSTAT, INFO) as the unrestricted user: the store's own user may lack them (CACHEKIT_TEST_REDIS_ACL=1)
  const admin = redis.client()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'cmd' }) }))
  const counts: Array<Record<string, number>> = []
  for (const n of [10, 10_000]) {
    const ns = cache.namespace<number>(`size${n}`, { ttl: 600 })
    for (let i = 0; i < n; i += 500) {
      const written = await Promise.all(Array.from({ length: Math.min(500, n - i) }, async (_, j) => await ns.set(`k${i + j}`, i + j, { tags: ['all', `group${(i + j) % 3}`] })))
      if (!written.every((w) => w.ok)) t.fail('a write failed')
    }
    t.same(await ns.get('k1'), { ok: true, value: 1 })
    await admin.config('RESETSTAT')
    await ns.invalidateAll()
    const afterAll = await commandCalls(admin)
    await admin.config('RESETSTAT')
    await ns.invalidateTags(['group0', 'group1'])
    const afterTags = await commandCalls(admin)
    counts.push({ ...Object.fromEntries(Object.entries(afterAll).map(([k, v]) => [`all:${k}`, v])), ...Object.fromEntries(Object.entries(afterTags).map(([k, v]) => [`tags:${k}`, v])) })
    t.same(await ns.get('k1'), { ok: true, value: null }, `old values unreadable at ${n} keys`)
    const tagged = cache.namespace<number>(`tagged${n}`, { ttl: 600 })
    await tagged.set('a', 1, { tags: ['group0'] })
    await tagged.set('b', 2, { tags: ['group2'] })
    await admin.config('RESETSTAT')
    await tagged.invalidateTags(['group0'])
    t.same(await tagged.get('a'), { ok: true, value: null })
    t.same(await tagged.get('b'), { ok: true, value: 2 })
  }
  t.same(counts[0], counts[1], 'the same commands, the same number of times')
  t.same(counts[0], { 'all:set': 1, 'tags:set': 2 }, 'one SET for invalidateAll, one per tag; no SCAN')
})
