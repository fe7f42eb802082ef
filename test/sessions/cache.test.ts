import { randomUUID } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { KeyBuilder } from '../../lib/keys.js'
import { SessionCache } from '../../lib/session/session-cache.js'
import type { Session } from '../../lib/session/schema.js'
import { sleep } from '../../harness/wait.js'
import { storeBackends } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { bareSession, fullSession, KEY_A, KEY_B, sessionCache } from '../helpers/sessions.js'
import { memoryStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'
import { CacheError } from '../../lib/result.js'
import type { Script, ScriptArg } from '../../lib/scripts.js'

// The session cache on both backends: the same answers from Redis and memory.
// Every backend (a Cluster too), with ids from newId() and ids from elsewhere (a database's UUIDs)
const cases = (await storeBackends('st', { cluster: true })).flatMap((b) => (['minted', 'uuid'] as const).map((kind) => ({ ...b, kind })))
for (const { name, store, kind } of cases) {
  t.test(`session cache: ${name}, ${kind} ids`, async (t) => {
    t.beforeEach(async () => { await store.clear() })
    const cache = sessionCache(store)
    // an id from newId(userId), or one from elsewhere (a database's UUID)
    const freshId = (c: SessionCache, userId: string): string => kind === 'uuid' ? randomUUID() : (c.newId(userId) as { value: string }).value
    const full = (userId: string, overrides: Partial<Session> = {}, c = cache): Session => fullSession(c, userId, { id: freshId(c, userId), ...overrides })
    const bare = (userId: string, c = cache): Session => ({ ...bareSession(c, userId), id: freshId(c, userId) })
    // what a read answers: the absolute expiry filled in when the session had none
    const asStored = (s: Session, c = cache): Session => s.expiresAt === null ? { ...s, expiresAt: new Date(s.createdAt.getTime() + c.ttlMs) } : s
    const ttlOf = async (key: string): Promise<number> => {
      const ttl = await store.ttl(key)
      return ttl.ok && ttl.value !== null ? ttl.value : -1
    }
    const keyOf = (id: string): string => (cache.keyOf(id) as { value: string }).value
    const indexOf = (userId: string): string => (cache.indexKeyOf(userId) as { value: string }).value

    t.test('session keys are the key builder\'s', async (t) => {
      const id = cache.newId('u1')
      const [tag, random] = (id.ok ? id.value : '').split('.') as [string, string]
      t.same(cache.keyOf(id.ok ? id.value : ''), new KeyBuilder({ prefix: 'st' }).tagged('sess', tag, random))
      t.equal(tag, new KeyBuilder({ prefix: 'st' }).hash('u1'), 'the tag is the keyed hash of the userId')
    })

    t.test('loads its scripts', async (t) => {
      t.same(await cache.loadScripts(), { ok: true, value: true })
      t.equal(cache.encrypted, false)
    })

    t.test('set and get', async (t) => {
      const s = full('u1')
      t.same(await cache.set(s), { ok: true, value: 'stored' })
      const got = await cache.get(s.id)
      t.ok(got.ok)
      t.same(got.ok && got.value, s)
      t.equal(cache.metrics.stats('sessions').hits >= 1, true, 'counted as a hit')
    })

    t.test('each read gets its own copy; changed bytes are decoded again', async (t) => {
      const small = sessionCache(store, { decodedMemoSize: 2 })
      const sessions = [full('u1', {}, small), bare('u1', small), full('u2', {}, small), full('u3', {}, small)]
      for (const s of sessions) await small.set(s)
      for (let round = 0; round < 2; round++) {
        for (const s of sessions) t.same(await small.get(s.id), { ok: true, value: asStored(s, small) }, `round ${round}`)
      }
      const first = await small.get(sessions[0]?.id as string)
      if (first.ok && first.value !== null) {
        first.value.createdAt.setTime(0)
        first.value.providersAccessed.push('mutated')
        ;(first.value.deviceInfo as Record<string, unknown>).os = 'mutated'
        first.value.userId = 'mutated'
      }
      t.same(await small.get(sessions[0]?.id as string), { ok: true, value: sessions[0] }, 'a caller\'s changes stay its own')
      const changed = { ...(sessions[0] as never as Record<string, unknown>), refreshTokenId: 'rt-2' } as never
      await small.set(changed)
      t.same(await small.get(sessions[0]?.id as string), { ok: true, value: changed }, 'new bytes, new session')
    })

    t.test('a missing session is a miss', async (t) => {
      const id = cache.newId('u1')
      t.same(await cache.get(id.ok ? id.value : ''), { ok: true, value: null })
    })

    t.test('explicit TTL', async (t) => {
      const s = full('u1')
      await cache.set(s, { ttl: 60 })
      const ttl = await ttlOf(keyOf(s.id))
      t.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`)
    })

    t.test('TTL from expiresAt one hour ahead', async (t) => {
      const s = full('u1', { expiresAt: new Date(Date.now() + 3600_000) })
      await cache.set(s)
      const ttl = await ttlOf(keyOf(s.id))
      t.ok(ttl > 3590 && ttl <= 3600, `ttl ${ttl}`)
    })

    t.test('without ttl or expiresAt, the default TTL; a given TTL never passes expiresAt', async (t) => {
      const short = sessionCache(store, { ttl: 120 })
      const s = bare('u1', short)
      await short.set(s)
      const ttl = await ttlOf(keyOf(s.id))
      t.ok(ttl > 100 && ttl <= 120, `default ttl ${ttl}`)
      const capped = full('u1', { expiresAt: new Date(Date.now() + 30_000) })
      await cache.set(capped, { ttl: 3600 })
      const cappedTtl = await ttlOf(keyOf(capped.id))
      t.ok(cappedTtl > 0 && cappedTtl <= 30, `capped ttl ${cappedTtl}`)
      const defaults = new SessionCache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'st' }) }))
      t.equal(defaults.ttlMs, 30 * 24 * 3600_000, '30 days by default')
      t.equal(defaults.revocationWindowMs, 300_000, 'tombstones last five minutes by default')
    })

    t.test('an already expired session is not stored', async (t) => {
      const s = full('u1', { expiresAt: new Date(Date.now() - 1000) })
      t.same(await cache.set(s), { ok: true, value: 'expired' })
      t.same(await cache.exists(s.id), { ok: true, value: false })
      t.same(await cache.getUserSessionIds('u1'), { ok: true, value: [] })
    })

    t.test('the id is in its user\'s index, which lives as long as its longest session', async (t) => {
      const a = full('u1')
      const b = full('u1')
      await cache.set(a, { ttl: 60 })
      await cache.set(b, { ttl: 120 })
      const ids = await cache.getUserSessionIds('u1')
      t.same(ids.ok && [...ids.value].sort(), [a.id, b.id].sort())
      const long = await ttlOf(indexOf('u1'))
      t.ok(long > 110 && long <= 120, `index ttl ${long}`)
      await cache.delete(b.id)
      const short = await ttlOf(indexOf('u1'))
      t.ok(short > 50 && short <= 60, `index ttl after delete ${short}`)
      await cache.delete(a.id)
      t.same(await store.exists(indexOf('u1')), { ok: true, value: false }, 'an empty index is gone')
    })

    t.test('every field round-trips, nulls included', async (t) => {
      for (const s of [full('u1'), bare('u1')]) {
        await cache.set(s)
        const got = await cache.get(s.id)
        t.same(got, { ok: true, value: asStored(s) })
        const value = got.ok ? got.value : null
        t.equal(value?.createdAt.getTime(), s.createdAt.getTime(), 'dates exact to the millisecond')
        t.ok(value?.createdAt instanceof Date)
      }
    })

    t.test('delete existing and missing', async (t) => {
      const s = full('u1')
      await cache.set(s)
      t.same(await cache.delete(s.id), { ok: true, value: true })
      t.same(await cache.get(s.id), { ok: true, value: null })
      t.same(await cache.getUserSessionIds('u1'), { ok: true, value: [] }, 'left the index')
      t.same(await cache.delete(s.id), { ok: true, value: false })
    })

    t.test('delete all for a user, and with none', async (t) => {
      const sessions = [full('u1'), full('u1'), full('u1')]
      for (const s of sessions) await cache.set(s)
      t.same(await cache.deleteAllForUser('u1'), { ok: true, value: 3 })
      for (const s of sessions) t.same(await cache.exists(s.id), { ok: true, value: false })
      t.same(await store.exists(indexOf('u1')), { ok: true, value: false }, 'index gone')
      t.same(await cache.deleteAllForUser('u1'), { ok: true, value: 0 })
      t.same(await cache.deleteAllForUser('nobody'), { ok: true, value: 0 })
    })

    t.test('delete all except one keeps it', async (t) => {
      const sessions = [full('u1'), full('u1'), full('u1')]
      for (const s of sessions) await cache.set(s)
      const keep = sessions[1]?.id as string
      t.same(await cache.deleteAllForUser('u1', { except: keep }), { ok: true, value: 2 })
      t.same(await cache.getUserSessionIds('u1'), { ok: true, value: [keep] })
      t.same(await cache.exists(keep), { ok: true, value: true })
      t.same(await cache.set(sessions[1] as never), { ok: true, value: 'stored' }, 'the kept one may be re-cached')
      t.same(await cache.set(sessions[0] as never), { ok: true, value: 'revoked' }, 'the others may not')
    })

    t.test('exists', async (t) => {
      const s = full('u1')
      t.same(await cache.exists(s.id), { ok: true, value: false })
      await cache.set(s)
      t.same(await cache.exists(s.id), { ok: true, value: true })
    })

    t.test('ids of an unknown user are empty; users are isolated', async (t) => {
      t.same(await cache.getUserSessionIds('ghost'), { ok: true, value: [] })
      const a = full('alice')
      const b = full('bob')
      await cache.set(a)
      await cache.set(b)
      t.same(await cache.getUserSessionIds('alice'), { ok: true, value: [a.id] })
      t.same(await cache.getUserSessionIds('bob'), { ok: true, value: [b.id] })
      t.same(await cache.deleteAllForUser('alice'), { ok: true, value: 1 })
      t.same(await cache.get(b.id), { ok: true, value: b }, 'bob untouched')
    })

    t.test('expired index entries are pruned', async (t) => {
      const brief = full('u1')
      const lasting = full('u1')
      await cache.set(brief, { ttl: 0.05 })
      await cache.set(lasting, { ttl: 60 })
      await sleep(80)
      t.same(await cache.getUserSessionIds('u1'), { ok: true, value: [lasting.id] }, 'live sessions only')
      t.same(await cache.deleteAllForUser('u1'), { ok: true, value: 1 })
    })

    t.test('touch updates time and IP, slides the TTL within expiresAt, and is false for a missing session', async (t) => {
      const s = full('u1', { expiresAt: new Date(Date.now() + 90_000) })
      await cache.set(s, { ttl: 10 })
      const before = Date.now()
      t.same(await cache.touch(s.id, { ip: '198.51.100.4' }), { ok: true, value: true })
      const got = await cache.get(s.id)
      const value = got.ok ? got.value : null
      t.equal(value?.lastIpAddress, '198.51.100.4')
      t.equal(value?.ipAddress, s.ipAddress, 'first IP kept')
      t.ok((value?.lastActivityAt.getTime() ?? 0) >= before, 'activity time moved')
      const ttl = await ttlOf(keyOf(s.id))
      t.ok(ttl > 80 && ttl <= 90, `slid up to expiresAt, not past: ${ttl}`)
      t.same(await cache.touch(s.id), { ok: true, value: true }, 'without an IP')
      const again = await cache.get(s.id)
      t.equal(again.ok && again.value?.lastIpAddress, '198.51.100.4', 'IP kept')
      const open = bare('u1', sessionCache(store, { ttl: 300 }))
      const sliding = sessionCache(store, { ttl: 300 })
      await sliding.set(open, { ttl: 5 })
      await sliding.touch(open.id)
      const slid = await ttlOf(keyOf(open.id))
      t.ok(slid > 290 && slid <= 300, `no expiresAt: slides by the ttl option (${slid})`)
      const missing = cache.newId('u1')
      t.same(await cache.touch(missing.ok ? missing.value : ''), { ok: true, value: false })
    })

    t.test('concurrent touches all land and leave one valid session', async (t) => {
      const s = full('u1')
      await cache.set(s)
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.touch(s.id, { ip: `10.0.0.${i}` })))
      t.ok(replies.every((r) => r.ok && r.value), 'every touch answered true')
      const got = await cache.get(s.id)
      t.match(got.ok && got.value?.lastIpAddress, /^10\.0\.0\.\d+$/)
    })

    t.test('a touch never revives a deleted session', async (t) => {
      const s = full('u1')
      await cache.set(s)
      const [touched, deleted] = await Promise.all([cache.touch(s.id), cache.delete(s.id)])
      t.ok(touched.ok && deleted.ok)
      t.same(await cache.get(s.id), { ok: true, value: null })
      t.same(await cache.touch(s.id), { ok: true, value: false })
    })

    t.test('200 concurrent creates for one user leave 200 ids', async (t) => {
      const created = await Promise.all(Array.from({ length: 200 }, () => cache.create({ userId: 'busy', ipAddress: '192.0.2.1' })))
      t.ok(created.every((r) => r.ok))
      const ids = await cache.getUserSessionIds('busy')
      t.equal(ids.ok && ids.value.length, 200)
      t.same(ids.ok && [...ids.value].sort(), created.map((r) => r.ok ? r.value.id : '').sort())
      t.same(await cache.deleteAllForUser('busy'), { ok: true, value: 200 })
    })

    t.test('create fills the defaults', async (t) => {
      const expiresAt = new Date(Date.now() + 60_000)
      const r = await cache.create({ userId: 'u9', ipAddress: '192.0.2.9', userAgent: 'curl', expiresAt, location: undefined })
      t.ok(r.ok)
      const s = r.ok ? r.value : null
      t.equal(s?.lastIpAddress, '192.0.2.9')
      t.equal(s?.userAgent, 'curl')
      t.equal(s?.location, null)
      t.equal(s?.isRevoked, false)
      t.same(s?.providersAccessed, [])
      t.same(await cache.get(s?.id as string), { ok: true, value: s })
      const past = await cache.create({ userId: 'u9', expiresAt: new Date(Date.now() - 1) })
      t.equal(!past.ok && past.error.code, 'INVALID_ARGUMENT')
      const noUser = await cache.create({ userId: '' })
      t.equal(!noUser.ok && noUser.error.code, 'INVALID_ARGUMENT')
    })

    t.test('a stale re-cache after revocation is refused', async (t) => {
      const s = full('u1')
      await cache.set(s)
      const staleCopy = { ...s }
      await cache.delete(s.id)
      t.same(await cache.set(staleCopy), { ok: true, value: 'revoked' })
      t.same(await cache.get(s.id), { ok: true, value: null })
      t.same(await cache.getUserSessionIds('u1'), { ok: true, value: [] })

      const others = [full('u1'), full('u1')]
      for (const o of others) await cache.set(o)
      await cache.deleteAllForUser('u1')
      for (const o of others) t.same(await cache.set(o), { ok: true, value: 'revoked' })
      t.same(await cache.getUserSessionIds('u1'), { ok: true, value: [] })

      const never = full('u1')
      t.same(await cache.delete(never.id), { ok: true, value: false })
      t.same(await cache.set(never), { ok: true, value: 'revoked' }, 'revoking an uncached id holds too')
      t.same(await cache.delete(s.id), { ok: true, value: false }, 'revoking twice is fine')
      t.same(await cache.set(full('u1')), { ok: true, value: 'stored' }, 'new logins still work')
    })

    t.test('free-form data beside the typed fields round-trips, Dates exact; what JSON would change is refused', async (t) => {
      const data = { cart: [{ sku: 'b-1', qty: 2, addedAt: new Date('2024-05-01T10:00:00.321Z') }], theme: null, nested: { $date: 'mine', deep: [true, 1.5] }, lone: { $date: 7 }, esc: { $esc: [] } }
      const s = full('u1', { data })
      t.same(await cache.set(s), { ok: true, value: 'stored' })
      const got = await cache.get(s.id)
      t.same(got, { ok: true, value: s })
      const cart = got.ok ? (got.value?.data?.cart as Array<{ addedAt: Date }>) : []
      t.ok(cart[0]?.addedAt instanceof Date && cart[0].addedAt.getTime() === data.cart[0]?.addedAt.getTime(), 'a Date inside data comes back a Date, to the ms')
      t.same(got.ok && got.value?.data?.lone, { $date: 7 }, 'data shaped like a marker stays data')
      for (const [bad, where] of [[{ f: () => 1 }, /data\.f: a function/], [{ n: [1, undefined] }, /data\.n\.1: undefined/], [{ x: NaN }, /data\.x: NaN/], [{ d: new Date(NaN) }, /data\.d: an invalid Date/], [{ b: 1n }, /data\.b: a bigint/]] as const) {
        const r = await cache.set(full('u1', { data: bad as never }))
        t.match(!r.ok && r.error.message, where)
      }
    })

    t.test('a schema of your own: every field kept, Dates exact, users optional', async (t) => {
      const Mine = Type.Object({
        id: Type.String(),
        userId: Type.Union([Type.String(), Type.Null()]),
        createdAt: Type.Date(),
        expiresAt: Type.Union([Type.Date(), Type.Null()]),
        tenant: Type.String(),
        history: Type.Array(Type.Object({ at: Type.Date(), what: Type.String() }))
      })
      const mine = cache.withSchema(Mine)
      const record = { id: freshId(cache, 'u7'), userId: 'u7', createdAt: new Date(Date.now() - 1234), expiresAt: null, tenant: 'acme', history: [{ at: new Date(1_700_000_000_123), what: 'login' }] }
      t.same(await mine.set(record), { ok: true, value: 'stored' })
      t.same(await mine.get(record.id), { ok: true, value: { ...record, expiresAt: new Date(record.createdAt.getTime() + cache.ttlMs) } }, 'expiresAt filled: createdAt + ttl')
      t.same(await mine.getUserSessionIds('u7'), { ok: true, value: [record.id] })
      const anonymous = { ...record, id: freshId(cache, 'u8'), userId: null }
      t.same(await mine.set(anonymous), { ok: true, value: 'stored' }, 'no user yet: stored, not indexed')
      t.same(await mine.get(anonymous.id), { ok: true, value: { ...anonymous, expiresAt: new Date(record.createdAt.getTime() + cache.ttlMs) } })
      t.same(await mine.touch(record.id), { ok: true, value: true })
      t.same(await mine.deleteAllForUser('u7'), { ok: true, value: 1 })
      t.same(await mine.get(record.id), { ok: true, value: null })
      const wrong = await mine.set({ ...record, tenant: 5 } as never)
      t.match(!wrong.ok && wrong.error.message, /tenant/)
      t.same(await cache.get(anonymous.id), { ok: true, value: null }, 'the default schema reads another schema\'s value as a miss')
      t.throws(() => cache.withSchema(Type.Object({ name: Type.String() })), /string `id`/)
    })

    t.test('absolute expiry: createdAt + ttl when none is given, and touch never passes it', async (t) => {
      const brief = sessionCache(store, { ttl: 60 })
      const created = await brief.create({ id: kind === 'uuid' ? randomUUID() : undefined, userId: 'u1' })
      const s = created.ok ? created.value : null
      t.equal(s?.expiresAt?.getTime(), (s?.createdAt.getTime() ?? 0) + 60_000, 'create answers its expiry')
      t.same(await brief.get(s?.id as string), { ok: true, value: s })
      const old = full('u1', { createdAt: new Date(Date.now() - 59_000), expiresAt: null }, brief)
      await brief.set(old)
      await brief.touch(old.id)
      const left = await ttlOf(keyOf(old.id))
      t.ok(left > 0 && left <= 1, `the touch slid to the absolute expiry, not past it (${left})`)
      const gone = full('u1', { createdAt: new Date(Date.now() - 61_000), expiresAt: null }, brief)
      t.same(await brief.set(gone), { ok: true, value: 'expired' }, 'past createdAt + ttl: not stored')
    })

    t.test('a write racing a revocation never brings the session back', async (t) => {
      for (let round = 0; round < 20; round++) {
        const s = full('racer')
        await cache.set(s)
        const stale = { ...s }
        const [revoked] = await Promise.all([
          round % 2 === 0 ? cache.deleteAllForUser('racer') : cache.delete(s.id),
          cache.set(stale), cache.touch(s.id), cache.set(stale)
        ])
        t.ok(revoked.ok)
        t.same(await cache.get(s.id), { ok: true, value: null }, `round ${round}: still revoked`)
        t.same(await cache.set(stale), { ok: true, value: 'revoked' })
        t.same(await cache.getUserSessionIds('racer'), { ok: true, value: [] }, `round ${round}: not in the index`)
      }
    })

    t.test('deleteAllForUser: a fixed number of sequential steps whatever the count', async (t) => {
      const waves = async (n: number): Promise<{ steps: number, calls: number }> => {
        for (let i = 0; i < n; i++) await cache.set(full('many'))
        const runScript = store.runScript
        let inFlight = 0
        let steps = 0
        let calls = 0
        store.runScript = (async (script: Script<unknown>, keys: readonly string[], args: readonly ScriptArg[]) => {
          if (inFlight++ === 0) steps++
          calls++
          try { return await runScript.call(store, script, keys, args) } finally { inFlight-- }
        }) as typeof runScript
        const r = await cache.deleteAllForUser('many')
        store.runScript = runScript
        t.same(r, { ok: true, value: n })
        return { steps, calls }
      }
      const few = await waves(3)
      const lots = await waves(300)
      t.equal(lots.steps, few.steps, `${few.steps} steps for 3 sessions and for 300`)
      t.equal(lots.steps, name === 'cluster' && kind === 'uuid' ? 3 : 2, 'list, (other slots,) revoke')
      if (name !== 'cluster' || kind !== 'uuid') t.equal(lots.calls, 2, 'two scripts in all')
    })

    t.test('writes failing half-way are counted failures; odd inputs are refused or answered', async (t) => {
      const counting = sessionCache(store)
      const split = name === 'cluster' && kind === 'uuid'
      const runScript = store.runScript
      t.teardown(() => { store.runScript = runScript })
      const failing = (scriptName: string): void => {
        store.runScript = (async (script: Script<unknown>, keys: readonly string[], args: readonly ScriptArg[]) => script.name === scriptName
          ? { ok: false, error: new CacheError('UNAVAILABLE', `${scriptName} failed on purpose`) }
          : await runScript.call(store, script, keys, args)) as typeof runScript
      }
      failing('session-set')
      t.equal((await counting.set(full('u1', {}, counting))).ok, false, 'the session write failed')
      const revoked = full('u1', {}, counting)
      store.runScript = runScript
      await counting.delete(revoked.id)
      failing('session-index-remove')
      const refused = await counting.set(revoked)
      t.same(refused.ok ? refused.value : refused.error.code, split ? 'UNAVAILABLE' : 'revoked', 'a refused write whose index entry could not be taken back')
      store.runScript = runScript

      const created = await counting.create({ id: revoked.id, userId: 'u1' })
      t.match(!created.ok && created.error.message, /was revoked/)
      t.match(await counting.set(full('u1', { userId: '' }, counting)), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await counting.delete(revoked.id, { userId: 'a\nb' }), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      const s = full('u1', {}, counting)
      await counting.set(s)
      t.same(await counting.touch(s.id, { expiresAt: new Date(Date.now() - 1000) }), { ok: true, value: false }, 'a touch to a past expiry writes nothing')
      const NoExpiry = Type.Object({ id: Type.String(), userId: Type.String(), lastActivityAt: Type.Date() })
      const plain = counting.withSchema(NoExpiry)
      const bare = { id: freshId(counting, 'u1'), userId: 'u1', lastActivityAt: new Date(0) }
      await plain.set(bare)
      t.same(await plain.touch(bare.id), { ok: true, value: true }, 'a schema without expiresAt: the sliding window alone')
      const after = await plain.get(bare.id)
      t.ok(after.ok && (after.value?.lastActivityAt.getTime() ?? 0) > 0, 'lastActivityAt set by touch')
    })

    t.test('a tombstone is one key per revoked id that lives the revocation window, cached or not', async (t) => {
      const brief = sessionCache(store, { revocationWindow: 30 })
      const s = full('u1', {}, brief)
      await brief.set(s, { ttl: 90 })
      await brief.delete(s.id)
      const tombstoneOf = (id: string): string => keyOf(id).replace(':sess:', ':sess-rev:')
      const tomb = await ttlOf(tombstoneOf(s.id))
      t.ok(tomb > 20 && tomb <= 30, `the window, not the session's life (${tomb})`)
      await store.clear()
      const never = Array.from({ length: 50 }, () => freshId(brief, 'u2'))
      for (const id of never) t.same(await brief.delete(id), { ok: true, value: false })
      const left = await store.deletePattern('*')
      t.equal(left.ok && left.value, 50, 'deleting 50 ids never cached wrote 50 keys, nothing else')
      const quick = sessionCache(store, { revocationWindow: 0.05 })
      const q = full('u3', {}, quick)
      await quick.delete(q.id)
      t.same(await quick.set(q), { ok: true, value: 'revoked' })
      await sleep(80)
      t.same(await quick.set(q), { ok: true, value: 'stored' }, 'past the window the id is forgotten')
    })

    t.test('an entry that fails the schema is a miss, counted', async (t) => {
      const counting = sessionCache(store)
      const s = full('u1', {}, counting)
      await counting.set(s)
      await store.set(keyOf(s.id), JSON.stringify({ id: s.id, userId: 'u1', createdAt: 'yesterday' }))
      t.same(await counting.get(s.id), { ok: true, value: null })
      await store.set(keyOf(s.id), '{corrupt')
      t.same(await counting.get(s.id), { ok: true, value: null })
      t.equal(counting.metrics.stats('sessions').errors, 2, 'both counted')
      t.same(await counting.touch(s.id), { ok: true, value: false }, 'touch treats it as missing')
    })

    t.test('encrypted at rest; a tampered value is a miss, counted', async (t) => {
      const sealed = sessionCache(store, { encryptionKeys: [{ id: 'k1', key: KEY_A }] })
      t.equal(sealed.encrypted, true)
      const s = full('u1', {}, sealed)
      await sealed.set(s)
      const raw = await store.get(keyOf(s.id))
      const stored = raw.ok ? raw.value as string : ''
      t.match(stored, /^enc1\.k1\./, 'stored sealed, naming its key')
      t.notMatch(stored, /Mozilla/, 'no plaintext')
      t.same(await sealed.get(s.id), { ok: true, value: s })
      // flip one ciphertext character well inside the value (a last base64 character may be padding bits only)
      const at = stored.length - 10
      await store.set(keyOf(s.id), stored.slice(0, at) + (stored[at] === 'A' ? 'B' : 'A') + stored.slice(at + 1))
      t.same(await sealed.get(s.id), { ok: true, value: null })
      t.equal(sealed.metrics.stats('sessions').errors, 1)

      // rotation: a new key encrypts, the old one still decrypts
      await sealed.set(s)
      const rotated = sessionCache(store, { encryptionKeys: [{ id: 'k2', key: KEY_B }, { id: 'k1', key: KEY_A }] })
      t.same(await rotated.get(s.id), { ok: true, value: s }, 'old key still decrypts')
      t.same(await rotated.touch(s.id), { ok: true, value: true })
      const after = await store.get(keyOf(s.id))
      t.match(after.ok && after.value, /^enc1\.k2\./, 're-sealed with the new key')
      t.same(await cache.get(s.id), { ok: true, value: null }, 'without keys, a sealed value is a miss')
    })

    t.test('bad input is INVALID_ARGUMENT, never a throw', async (t) => {
      const bad = ['', 'x'.repeat(257), 'a\nb', 'tab\there', 'del\u007f', 42 as unknown as string, null as unknown as string]
      for (const id of bad) {
        for (const r of [await cache.get(id), await cache.exists(id), await cache.delete(id), await cache.touch(id), cache.keyOf(id)]) {
          t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', `id ${JSON.stringify(id)}`)
        }
      }
      for (const userId of ['', 'x'.repeat(513), 'a\nb', 7 as unknown as string]) {
        for (const r of [await cache.getUserSessionIds(userId), await cache.deleteAllForUser(userId), cache.newId(userId), cache.indexKeyOf(userId)]) {
          t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', `userId ${JSON.stringify(userId)}`)
        }
      }
      const except = await cache.deleteAllForUser('u1', { except: '' })
      t.equal(!except.ok && except.error.code, 'INVALID_ARGUMENT')
      const s = full('u1')
      const invalid = await cache.set({ ...s, createdAt: new Date(NaN) })
      t.match(!invalid.ok && invalid.error.message, /createdAt/)
      const notObject = await cache.set(null as never)
      t.equal(!notObject.ok && notObject.error.code, 'INVALID_ARGUMENT')
      const extra = await cache.set({ ...s, cart: ['book'] } as never)
      t.match(!extra.ok && extra.error.message, /cart: Unexpected property/, 'a field outside the schema is refused, not dropped')
      await cache.set(s)
      const longIp = await cache.touch(s.id, { ip: 'x'.repeat(100) })
      t.match(!longIp.ok && longIp.error.message, /lastIpAddress/)
      const ttl = await cache.set(s, { ttl: -1 })
      t.equal(!ttl.ok && ttl.error.code, 'INVALID_ARGUMENT')
      t.throws(() => sessionCache(store, { ttl: 0 }), TypeError)
      t.throws(() => sessionCache(store, { encryptionKeys: [{ id: 'k', key: 'c2hvcnQ=' }] }), TypeError)
    })

    t.test('a script error is a counted failure, not a throw', async (t) => {
      const counting = sessionCache(store)
      const s = full('u1', {}, counting)
      await counting.set(s)
      await store.set(indexOf('u1'), 'not a sorted set')
      for (const r of [await counting.set(s), await counting.touch(s.id), await counting.delete(s.id), await counting.getUserSessionIds('u1'), await counting.deleteAllForUser('u1')]) {
        t.equal(r.ok, false)
      }
      t.equal(counting.metrics.stats('sessions').errors, 5)
    })

    t.test('deleting all: the revoke step failing after the list is a counted failure', async (t) => {
      const counting = sessionCache(store)
      await counting.set(full('u1', {}, counting))
      await counting.set(full('u1', {}, counting))
      const runScript = store.runScript
      t.teardown(() => { store.runScript = runScript })
      store.runScript = (async (script: Script<unknown>, keys: readonly string[], args: readonly ScriptArg[]) => script.name === 'session-revoke'
        ? { ok: false, error: new CacheError('UNAVAILABLE', 'revoke failed on purpose') }
        : await runScript.call(store, script, keys, args)) as typeof runScript
      const r = await counting.deleteAllForUser('u1')
      t.equal(!r.ok && r.error.code, 'UNAVAILABLE')
      t.equal(counting.metrics.stats('sessions').errors, 1)
    })
  })
}

t.test('with the store failing every call is a counted failure, warned once', async (t) => {
  const { store, close } = memoryStore('st3')
  t.teardown(close)
  const warnings: string[] = []
  const cache = sessionCache(store, { logger: { warn: (_d, message) => { warnings.push(message) } } })
  const s = fullSession(cache, 'u1')
  faultyStore(t, store).fail('UNAVAILABLE')
  const replies = [
    await cache.get(s.id), await cache.exists(s.id), await cache.set(s), await cache.delete(s.id), await cache.create({ userId: 'u1' }),
    await cache.getUserSessionIds('u1'), await cache.deleteAllForUser('u1'), await cache.touch(s.id)
  ]
  for (const r of replies) t.equal(!r.ok && r.error.code, 'UNAVAILABLE', JSON.stringify(r))
  t.equal(cache.metrics.stats('sessions').errors, replies.length)
  t.equal(warnings.length, 1, 'warned once, not once per call')
})
