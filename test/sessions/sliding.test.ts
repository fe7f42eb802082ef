import t, { type Test } from 'tap'
import { defineScript } from '../../lib/scripts.js'
import { StoreRecordSchema, type FastifySessionStore, type StoreRecord } from '../../lib/session/store.js'
import type { Store } from '../../lib/store/store.js'
import { storeBackends } from '../helpers/backends.js'
import { StoreFaults } from '../helpers/faulty-store.js'
import { KEY_A, sessionCache } from '../helpers/sessions.js'

// The @fastify/session store's save: a first save, a new user or a later expiry is the full write (script,
// tombstone check, index); a save of a session this instance knows, same user, within the expiry it was
// stored with, replaces the value alone. Neither may bring back a revoked session or leave a live one out of
// its user's index. On every backend, a Cluster included.

// the score of one index entry (ms), for checking it against the session key's expiry
const zscore = defineScript<number | null>('test-zscore', (ctx, keys, args) => {
  const score = ctx.zscore(keys[0] as string, args[0] as string)
  return score === null ? null : String(score)
}, (reply) => reply === null || reply === undefined ? null : Number(reply), [
  // ZRANGE, not ZSCORE: the suite also runs as the minimal ACL user (npm run test:acl), whose list has no ZSCORE
  "local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
  'for i = 1, #all, 2 do if all[i] == ARGV[1] then return all[i + 1] end end',
  'return false'
].join('\n'))

const MINUTE = 60_000
const cookieFor = (ms: number): Record<string, unknown> => ({ expires: new Date(Date.now() + ms).toISOString(), originalMaxAge: ms, path: '/', httpOnly: true })

for (const { name, store } of await storeBackends('sl', { cluster: true })) {
  t.test(`sliding saves: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })
    // two instances of the service over one store: each has its own memory of what it saw
    const cache = sessionCache(store, { ttl: 3600 })
    const other = sessionCache(store, { ttl: 3600 })
    const sessions: FastifySessionStore = cache.fastifySessionStore()
    const elsewhere: FastifySessionStore = other.fastifySessionStore()
    const keyOf = (sid: string): string => (cache.keyOf(sid) as { value: string }).value
    const pttlOf = async (sid: string): Promise<number> => {
      const ttl = await store.ttl(keyOf(sid))
      return ttl.ok && ttl.value !== null ? ttl.value * 1000 : -1
    }
    // how long the user's index keeps listing the session (ms from now), -1 when it does not
    const listedFor = async (userId: string, sid: string): Promise<number> => {
      const score = await store.runScript(zscore, [(cache.indexKeyOf(userId) as { value: string }).value], [sid])
      return score.ok && score.value !== null ? score.value - Date.now() : -1
    }
    const calls = (t: Test): StoreFaults => new StoreFaults(t, store)
    // what a save sent: a run of scripts is one full write (one script; on a Cluster, the index entry, then the session)
    const steps = (faults: StoreFaults): string[] => faults.calls.map((c) => c === 'runScript' ? 'full write' : c).filter((c, i, all) => c !== 'full write' || all[i - 1] !== c)

    t.test('a first save: one script, kept 1% past its cookie, the index entry expiring with the key', async (t) => {
      const seen = calls(t)
      await sessions.set('sl-1', { user: 'ann', userId: 'ann', cookie: cookieFor(10 * MINUTE) })
      t.same(steps(seen), ['full write'])
      const pttl = await pttlOf('sl-1')
      t.ok(pttl > 10 * MINUTE && pttl <= 10 * MINUTE + 6_000, `kept past the cookie, by at most 1%: ${pttl} ms`)
      const listed = await listedFor('ann', 'sl-1')
      t.ok(Math.abs(listed - pttl) < 1_000, `listed as long as it lives: ${listed} ms against ${pttl} ms`)
    })

    t.test('the next save of a session this instance knows is one plain replace; what it stored round-trips', async (t) => {
      await sessions.set('sl-2', { userId: 'ann', visits: 1, cookie: cookieFor(10 * MINUTE) })
      const before = await pttlOf('sl-2')
      const seen = calls(t)
      await sessions.set('sl-2', { userId: 'ann', visits: 2, at: new Date(7), cookie: cookieFor(10 * MINUTE) })
      t.same(steps(seen), ['replace'], 'no script, no index write')
      t.match(await sessions.get('sl-2'), { userId: 'ann', visits: 2, at: new Date(7) })
      t.ok(await pttlOf('sl-2') <= before, 'the expiry kept, so its index entry still matches')
      t.ok(await listedFor('ann', 'sl-2') > 0)
    })

    t.test('a session known from a read (another instance saved it) is replaced the same way', async (t) => {
      await elsewhere.set('sl-3', { userId: 'ann', cookie: cookieFor(10 * MINUTE) })
      t.ok(await sessions.get('sl-3'))
      const seen = calls(t)
      await sessions.set('sl-3', { userId: 'ann', visits: 1, cookie: cookieFor(10 * MINUTE) })
      t.same(steps(seen), ['replace'])
    })

    t.test('revoked while a request holding it runs: its save (a replace) finds no key and the full write is refused', async (t) => {
      await sessions.set('sl-4', { userId: 'bea', cookie: cookieFor(10 * MINUTE) })
      const held = await sessions.get('sl-4') as Record<string, unknown>
      t.same(await other.deleteAllForUser('bea'), { ok: true, value: 1 }, 'log out everywhere, from another instance')
      const seen = calls(t)
      await sessions.set('sl-4', { ...held, visits: 1 }) // the running request's save: quiet, as @fastify/session wants
      t.same(steps(seen), ['replace', 'full write'], 'the replace found nothing; the full write met the tombstone')
      t.equal(await sessions.get('sl-4'), null, 'not brought back')
      t.same(await cache.getUserSessionIds('bea'), { ok: true, value: [] })
      // and after destroy() of this very store
      await sessions.set('sl-5', { userId: 'bea', cookie: cookieFor(10 * MINUTE) })
      const held5 = await sessions.get('sl-5') as Record<string, unknown>
      await sessions.destroy('sl-5')
      await sessions.set('sl-5', { ...held5, visits: 1 })
      t.equal(await elsewhere.get('sl-5'), null, 'not brought back after destroy either')
    })

    t.test('a save that names a user joins the session to that user\'s index (full write)', async (t) => {
      await sessions.set('sl-6', { cookie: cookieFor(10 * MINUTE) })
      t.same(await cache.getUserSessionIds('cal'), { ok: true, value: [] })
      const seen = calls(t)
      await sessions.set('sl-6', { userId: 'cal', cookie: cookieFor(10 * MINUTE) })
      t.same(steps(seen), ['full write'], 'a new user is never a replace')
      t.same(await cache.getUserSessionIds('cal'), { ok: true, value: ['sl-6'] })
      t.ok(Math.abs(await listedFor('cal', 'sl-6') - await pttlOf('sl-6')) < 1_000, 'listed as long as it lives')
      t.same(await cache.deleteAllForUser('cal'), { ok: true, value: 1 })
      await sessions.set('sl-6', { userId: 'cal', cookie: cookieFor(10 * MINUTE) })
      t.equal(await sessions.get('sl-6'), null)
    })

    t.test('a cookie that now expires past what is stored: full write, the index entry moves with the key', async (t) => {
      await sessions.set('sl-7', { userId: 'dee', cookie: cookieFor(10 * MINUTE) })
      const seen = calls(t)
      await sessions.set('sl-7', { userId: 'dee', cookie: cookieFor(20 * MINUTE) })
      t.same(steps(seen), ['full write'])
      const pttl = await pttlOf('sl-7')
      t.ok(pttl > 20 * MINUTE, `now lives until the new expiry: ${pttl} ms`)
      t.ok(Math.abs(await listedFor('dee', 'sl-7') - pttl) < 1_000, 'and is listed as long')
    })

    t.test('changed by another instance since this one saw it: the replace is followed by the full write', async (t) => {
      await sessions.set('sl-8', { userId: 'eve', cookie: cookieFor(10 * MINUTE) })
      // another instance makes it fay's, for longer (a full write there: it never saw the session)
      await elsewhere.set('sl-8', { userId: 'fay', cookie: cookieFor(30 * MINUTE) })
      const seen = calls(t)
      await sessions.set('sl-8', { userId: 'eve', cookie: cookieFor(10 * MINUTE) }) // a stale copy of eve's
      t.same(steps(seen), ['replace', 'full write'], 'the replace met bytes it did not expect')
      const pttl = await pttlOf('sl-8')
      t.ok(await listedFor('eve', 'sl-8') >= pttl - 1_000, 'eve\'s index lists it as long as it lives')
      t.same(await cache.deleteAllForUser('eve'), { ok: true, value: 1 }, 'so her log out everywhere finds it')
    })

    t.test('a record is never served past its cookie\'s expiry, though it is kept a little longer', async (t) => {
      // as a save 10 ms before the cookie expired would have left it: the cookie expired, the record kept
      const view = cache.withSchema(StoreRecordSchema)
      const expired = { expires: new Date(Date.now() - 1).toISOString(), path: '/' }
      t.same(await view.set({ id: 'sl-9', userId: null, expiresAt: new Date(Date.now() + MINUTE), data: { cookie: expired } }), { ok: true, value: 'stored' })
      t.equal(await sessions.get('sl-9'), null, 'the store answers no session')
      t.match(await view.get('sl-9'), { ok: true, value: { id: 'sl-9' } }, 'while the record is still there')
      await view.set({ id: 'sl-9b', userId: null, expiresAt: new Date(Date.now() + MINUTE), data: { cookie: { expires: Date.now() - 1 } } })
      t.equal(await sessions.get('sl-9b'), null, 'an expiry in epoch ms too')
    })

    t.test('a cookie without an expiry: kept the cache\'s ttl after each save', async (t) => {
      await sessions.set('sl-10', { userId: 'gil', cookie: { path: '/' } })
      await sessions.set('sl-10', { userId: 'gil', visits: 1, cookie: { path: '/' } })
      const pttl = await pttlOf('sl-10')
      t.ok(pttl > 3590_000 && pttl <= 3600_000, `${pttl} ms`)
    })

    t.test('encrypted at rest: the replace writes sealed bytes that read back', async (t) => {
      const sealed = sessionCache(store, { ttl: 3600, encryptionKeys: [{ id: 'k1', key: KEY_A }] }).fastifySessionStore()
      await sealed.set('sl-12', { userId: 'ida', cookie: cookieFor(10 * MINUTE) })
      const seen = calls(t)
      await sealed.set('sl-12', { userId: 'ida', visits: 3, cookie: cookieFor(10 * MINUTE) })
      t.same(steps(seen), ['replace'])
      t.match(await sealed.get('sl-12'), { userId: 'ida', visits: 3 })
      const raw = await store.get(keyOf('sl-12'))
      t.match(raw, { ok: true, value: /^enc1\.k1\./ }, 'sealed')
    })

    t.test('a failed replace: the full write decides; a Redis that refuses the command is not asked again', async (t) => {
      await sessions.set('sl-11', { userId: 'hal', cookie: cookieFor(10 * MINUTE) })
      const faults = calls(t)
      faults.fail('TIMEOUT', { only: ['replace'] })
      await sessions.set('sl-11', { userId: 'hal', visits: 1, cookie: cookieFor(10 * MINUTE) })
      t.same(steps(faults), ['replace', 'full write'], 'a timed-out replace may or may not have run: the full write is safe either way')
      t.match(await sessions.get('sl-11'), { visits: 1 })
      faults.fail('INTERNAL', { only: ['replace'] }) // what Redis 6.0 answers to SET … GET
      const mark = faults.calls.length
      await sessions.set('sl-11', { userId: 'hal', visits: 2, cookie: cookieFor(10 * MINUTE) })
      await sessions.set('sl-11', { userId: 'hal', visits: 3, cookie: cookieFor(10 * MINUTE) })
      t.same(faults.calls.slice(mark).filter((c) => c === 'replace'), ['replace'], 'refused once, then never asked')
      t.match(await sessions.get('sl-11'), { visits: 3 })
      t.ok(cache.metrics.stats('sessions').errors >= 2, 'the failed replaces are counted')
      faults.fail('UNAVAILABLE')
      await t.rejects(elsewhere.set('sl-11', { userId: 'hal', visits: 4, cookie: cookieFor(10 * MINUTE) }) as Promise<unknown>, { code: 'UNAVAILABLE' }, 'an outage reaches @fastify/session')
    })
  })
}

t.test('sliding saves: what is refused, and a bounded memory of what was seen', async (t) => {
  const [memory] = (await storeBackends('sl-edge')).filter((b) => b.store.kind === 'memory')
  const store = memory?.store as Store
  const view = sessionCache(store, { ttl: 3600, decodedMemoSize: 2 }).withSchema(StoreRecordSchema)
  const record = (id: string, userId: string | null, data: Record<string, unknown> = {}): StoreRecord => ({ id, userId, expiresAt: new Date(Date.now() + 10 * MINUTE), data })
  t.match(await view.setSliding(record('', 'ann')), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /malformed session id/ } })
  t.match(await view.setSliding({ ...record('e-1', 'ann'), expiresAt: new Date(NaN) }), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /expiresAt/ } })
  t.match(await view.setSliding({ ...record('e-1', 'ann'), expiresAt: undefined as unknown as Date }), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /expiresAt/ } })
  t.same(await view.setSliding({ ...record('e-1', 'ann'), expiresAt: new Date(Date.now() - 1) }), { ok: true, value: 'expired' })
  t.match(await view.setSliding(record('e-1', 'x'.repeat(513))), { ok: false, error: { code: 'INVALID_ARGUMENT' } }, 'a userId the index cannot take')
  t.same(await view.setSliding(record('e-1', 'ann')), { ok: true, value: 'stored' })
  t.match(await view.setSliding(record('e-1', 'ann', { f: () => 1 })), { ok: false, error: { code: 'INVALID_ARGUMENT', message: /data\.f: a function/ } }, 'checked on the replace path too')

  // two ids remembered: a third pushes the first out, whose next save is a full write again
  t.same(await view.setSliding(record('e-2', 'ann')), { ok: true, value: 'stored' })
  t.same(await view.setSliding(record('e-3', 'ann')), { ok: true, value: 'stored' })
  const faults = new StoreFaults(t, store)
  await view.setSliding(record('e-1', 'ann', { n: 1 }))
  await view.setSliding(record('e-3', 'ann', { n: 1 }))
  t.same(faults.calls, ['runScript', 'replace'], 'e-1 forgotten, e-3 known')

  // log out everywhere through the same cache forgets the ids it revoked: the next save is the full write, refused
  t.same(await view.deleteAllForUser('ann'), { ok: true, value: 3 })
  t.same(await view.setSliding(record('e-3', 'ann')), { ok: true, value: 'revoked' })
  t.same(faults.calls.slice(2).filter((c) => c === 'replace'), [], 'no replace for an id it revoked')
})
