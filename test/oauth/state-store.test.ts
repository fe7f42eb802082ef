import t from 'tap'
import { KeyBuilder } from '../../lib/keys.js'
import { codeChallengeOf } from '../../lib/oauth/pkce.js'
import { randomToken } from '../../lib/oauth/random-token.js'
import { OAuthStateStore, type OAuthStateStoreOptions } from '../../lib/oauth/state-store.js'
import { commandCalls } from '../helpers/commandstats.js'
import type { TestRedis } from '../../harness/redis-server.js'
import { sleep } from '../../harness/wait.js'
import { fileRedis, ownRedis, storeBackends } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { memoryStore, redisStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'

// The OAuth state store on both backends: one-time, atomic, bound, fail-closed.
const redis = await fileRedis()
const keys = new KeyBuilder({ prefix: 'test' })

let probe: ReturnType<TestRedis['client']> | undefined
/** Commands the private Redis has served so far, all commands together. */
async function commandsServed (r: TestRedis): Promise<number> {
  return Object.values(await commandCalls(probe ??= r.client())).reduce((a, b) => a + b, 0)
}

const MALFORMED: unknown[] = [
  '', 'short', 'a'.repeat(42), 'a'.repeat(44), 'A'.repeat(42) + 'B', // wrong length, or 43 chars no 32 bytes encode to
  'A'.repeat(42) + '=', 'A'.repeat(21) + '+' + 'A'.repeat(21), 'A'.repeat(21) + '/' + 'A'.repeat(21), 'A'.repeat(21) + ':' + 'A'.repeat(21),
  'A'.repeat(40) + '\n' + 'AA', undefined, null, 42, { state: 'x' }
]

for (const { name, store } of await storeBackends('test')) {
  t.test(`oauth state store: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })
    const states = new OAuthStateStore(new ComponentContext({ store, keys }))

    t.test('create then consume: the data comes back once, bound as created', async (t) => {
      const created = await states.create({ userId: 'user-1', provider: 'demo', alias: 'work account', redirectUri: 'https://app.example.com/cb' })
      t.ok(created.ok)
      if (!created.ok) return
      t.match(created.value.state, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url')
      t.ok(OAuthStateStore.isWellFormed(created.value.state))
      t.equal(created.value.expiresIn, 600, 'default TTL')
      t.notOk('codeChallenge' in created.value, 'no PKCE unless asked')
      const ttl = await store.ttl((states.keyFor(created.value.state) as { value: string }).value)
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 590 && ttl.value <= 600, 'stored with the TTL')

      const consumed = await states.consume(created.value.state, { userId: 'user-1', provider: 'demo' })
      t.ok(consumed.ok && consumed.value !== null)
      if (!consumed.ok || consumed.value === null) return
      t.match(consumed.value, { userId: 'user-1', provider: 'demo', alias: 'work account', redirectUri: 'https://app.example.com/cb' })
      t.type(consumed.value.createdAt, 'number')
      t.notOk('codeVerifier' in consumed.value)
    })

    t.test('two creates never give the same state', async (t) => {
      const a = await states.create({ userId: 'u', provider: 'demo' })
      const b = await states.create({ userId: 'u', provider: 'demo' })
      t.ok(a.ok && b.ok && a.value.state !== b.value.state)
    })

    t.test('the key holds a keyed hash of the state, never the state', async (t) => {
      const created = await states.create({ userId: 'u', provider: 'demo' })
      if (!created.ok) return t.fail('create failed')
      const key = states.keyFor(created.value.state)
      t.ok(key.ok)
      if (!key.ok) return
      t.match(key.value, /^test:oauth:state:[A-Za-z0-9_-]{22}$/)
      t.notOk(key.value.includes(created.value.state))
      t.equal(key.value, `test:oauth:state:${keys.hash(created.value.state)}`)
      t.same(await store.exists(key.value), { ok: true, value: true })
    })

    t.test('consume twice: the second answer is null', async (t) => {
      const created = await states.create({ userId: 'u', provider: 'demo' })
      if (!created.ok) return t.fail('create failed')
      const first = await states.consume(created.value.state)
      t.ok(first.ok && first.value !== null, 'first accepted (no user or provider check asked)')
      t.same(await states.consume(created.value.state), { ok: true, value: null }, 'second refused')
    })

    t.test('100 concurrent consumes of one state: exactly one succeeds', async (t) => {
      // on Redis, the callbacks come through two clients, as from two instances
      const other = name === 'redis' ? await redisStore(redis, 'test') : undefined
      t.teardown(async () => { await other?.close() })
      const instances = [states, new OAuthStateStore(new ComponentContext({ store: other?.store ?? store, keys }))]
      const created = await states.create({ userId: 'u', provider: 'demo' })
      if (!created.ok) return t.fail('create failed')
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => instances[i % 2].consume(created.value.state, { userId: 'u' })))
      t.ok(results.every((r) => r.ok), 'no failures')
      t.equal(results.filter((r) => r.ok && r.value !== null).length, 1, 'exactly one accepted')
    })

    t.test('a state expires after its TTL', async (t) => {
      const short = new OAuthStateStore(new ComponentContext({ store, keys }), { ttl: 0.15 })
      const created = await short.create({ userId: 'u', provider: 'demo' })
      if (!created.ok) return t.fail('create failed')
      t.equal(created.value.expiresIn, 0.15)
      await sleep(250)
      t.same(await short.consume(created.value.state), { ok: true, value: null })
    })

    t.test('another user is refused, and the state stays burned', async (t) => {
      const warnings: string[] = []
      const watched = new OAuthStateStore(new ComponentContext({ store, keys, logger: { warn: (_d, message) => { warnings.push(message) } } }))
      const created = await watched.create({ userId: 'alice', provider: 'demo' })
      if (!created.ok) return t.fail('create failed')
      t.same(await watched.consume(created.value.state, { userId: 'mallory' }), { ok: true, value: null })
      t.same(await watched.consume(created.value.state, { userId: 'alice' }), { ok: true, value: null }, 'burned for its own user too')
      t.equal(warnings.length, 1, 'the mismatch is logged')
      t.equal(watched.metrics.stats('oauth').misses, 2)
    })

    t.test('another provider is refused, and the state stays burned', async (t) => {
      const created = await states.create({ userId: 'alice', provider: 'github' })
      if (!created.ok) return t.fail('create failed')
      t.same(await states.consume(created.value.state, { userId: 'alice', provider: 'demo' }), { ok: true, value: null })
      t.same(await states.consume(created.value.state, { userId: 'alice', provider: 'github' }), { ok: true, value: null })
    })

    t.test('malformed states are refused without any store call', async (t) => {
      const { calls } = faultyStore(t, store) // fails nothing: it only lists the calls
      const guarded = new OAuthStateStore(new ComponentContext({ store, keys }))
      const before = await commandsServed(redis)
      for (const state of MALFORMED) {
        const r = await guarded.consume(state as string)
        t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', `refused: ${JSON.stringify(state)}`)
        t.notOk(OAuthStateStore.isWellFormed(state))
      }
      t.same(calls, [], 'the store was never called')
      t.equal(await commandsServed(redis), before, 'Redis served no command meanwhile')
      // the list does show calls that do happen
      await guarded.consume('A'.repeat(43))
      t.same(calls, ['getDel'])
    })

    t.test('PKCE: the verifier is kept with the state and matches the challenge', async (t) => {
      const created = await states.create({ userId: 'u', provider: 'demo', pkce: true })
      if (!created.ok) return t.fail('create failed')
      const challenge = created.value.codeChallenge
      t.match(challenge, /^[A-Za-z0-9_-]{43}$/, 'S256 challenge: 32 bytes base64url')
      const consumed = await states.consume(created.value.state)
      if (!consumed.ok || consumed.value === null) return t.fail('consume failed')
      const verifier = consumed.value.codeVerifier as string
      t.match(verifier, /^[A-Za-z0-9_-]{43}$/, 'RFC 7636: 43..128 unreserved characters')
      t.equal(codeChallengeOf(verifier), challenge)
      t.not(verifier, challenge)
    })

    t.test('bad input to create is INVALID_ARGUMENT and stores nothing', async (t) => {
      const bad: Array<Record<string, unknown>> = [
        { userId: '', provider: 'demo' },
        { userId: undefined, provider: 'demo' },
        { userId: 'a\u0000b', provider: 'demo' },
        { userId: 'x'.repeat(257), provider: 'demo' },
        { userId: 'u', provider: 'has space' },
        { userId: 'u', provider: undefined },
        { userId: 'u', provider: 'demo', alias: '' },
        { userId: 'u', provider: 'demo', redirectUri: 'not a url' },
        { userId: 'u', provider: 'demo', redirectUri: 'javascript:alert(1)' },
        { userId: 'u', provider: 'demo', redirectUri: 'https://x.example/' + 'a'.repeat(2048) }
      ]
      for (const input of bad) {
        const r = await states.create(input as never)
        t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', JSON.stringify(input).slice(0, 80))
      }
      t.same(await store.clear(), { ok: true, value: 0 }, 'nothing was written')
    })

    t.test('stored data that is not state data is a DECODE failure, never an acceptance', async (t) => {
      for (const raw of ['{not json', '{"userId":"u"}', '"a string"']) {
        const created = await states.create({ userId: 'u', provider: 'demo' })
        if (!created.ok) return t.fail('create failed')
        await store.set((states.keyFor(created.value.state) as { value: string }).value, raw)
        const r = await states.consume(created.value.state)
        t.equal(!r.ok && r.error.code, 'DECODE', raw)
      }
    })

    t.test('consumes are counted: accepted hit, refused miss', async (t) => {
      const counted = new OAuthStateStore(new ComponentContext({ store, keys }))
      const created = await counted.create({ userId: 'u', provider: 'demo' })
      if (!created.ok) return t.fail('create failed')
      await counted.consume(created.value.state)
      await counted.consume(created.value.state)
      t.match(counted.metrics.stats('oauth'), { hits: 1, misses: 1, errors: 0 })
    })
  })
}

t.test('random tokens: well-formed and never repeated, across pool refills', async (t) => {
  const tokens = Array.from({ length: 1000 }, randomToken)
  t.ok(tokens.every((token) => OAuthStateStore.isWellFormed(token)), 'each is 32 bytes, base64url')
  t.equal(new Set(tokens).size, tokens.length, 'no token handed out twice')
  t.notOk(tokens.includes('A'.repeat(43)), 'no zeroed (already used) bytes handed out')
})

t.test('a key builder that cannot make the key refuses create and consume', async (t) => {
  // personal parts are bounded before hashing: a 43-character state needs maxPartLength >= 43
  const states = new OAuthStateStore(new ComponentContext({ store: memoryStore().store, keys: new KeyBuilder({ maxPartLength: 40 }) }))
  const created = await states.create({ userId: 'u', provider: 'demo' })
  t.equal(!created.ok && created.error.code, 'INVALID_ARGUMENT')
  const consumed = await states.consume('A'.repeat(43))
  t.equal(!consumed.ok && consumed.error.code, 'INVALID_ARGUMENT')
})

t.test('the TTL is bounded', async (t) => {
  const store = memoryStore().store
  const make = (ttl: number) => () => new OAuthStateStore(new ComponentContext({ store, keys }), { ttl } satisfies OAuthStateStoreOptions)
  for (const ttl of [0, -1, 3601, Number.NaN]) t.throws(make(ttl), { name: 'TypeError' }, `ttl ${ttl}`)
  t.equal(make(3600)().ttl, 3600)
})

t.test('with the store failing: create fails and consume refuses (fail closed)', async (t) => {
  const { store, close } = memoryStore()
  t.teardown(close)
  const faults = faultyStore(t, store)
  const warnings: string[] = []
  const states = new OAuthStateStore(new ComponentContext({ store, keys, logger: { warn: (_d, message) => { warnings.push(message) } } }))
  const created = await states.create({ userId: 'u', provider: 'demo', pkce: true })
  if (!created.ok) return t.fail('create failed while the store was up')

  for (const code of ['UNAVAILABLE', 'TIMEOUT', 'UNAVAILABLE', 'TIMEOUT', 'UNAVAILABLE'] as const) {
    faults.heal()
    faults.fail(code)
    const again = await states.create({ userId: 'u', provider: 'demo' })
    t.equal(again.ok, false, 'create fails: no state is handed out that was not stored')
    t.equal(!again.ok && again.error.code, code)
    const consumed = await states.consume(created.value.state, { userId: 'u' })
    t.equal(consumed.ok, false, 'consume refuses with a Failure, never null-as-accept or data')
    t.equal(!consumed.ok && consumed.error.code, code)
  }
  t.ok(states.metrics.stats('oauth').errors >= 10, 'failures are counted')
  t.equal(warnings.length, 2, 'warned once per code, not per call')
})

t.test('Redis hung: consume times out and refuses; the state may be burned, never accepted later by surprise', async (t) => {
  const hung = await ownRedis(t)
  const { store, close } = await redisStore(hung, 'test', { commandTimeoutMs: 100 })
  t.teardown(close)
  const states = new OAuthStateStore(new ComponentContext({ store, keys }))
  const created = await states.create({ userId: 'u', provider: 'demo' })
  if (!created.ok) return t.fail('create failed while Redis was up')
  hung.pause()
  const consumed = await states.consume(created.value.state)
  hung.resume()
  t.equal(!consumed.ok && consumed.error.code, 'TIMEOUT', 'a Failure, not null and not data')
  // the GETDEL was already sent: Redis ran it when it woke up, so the state is gone
  t.same(await states.consume(created.value.state), { ok: true, value: null })
})
