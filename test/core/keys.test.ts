import t from 'tap'
import { HASH_MEMO_SIZE, KeyBuilder, personal } from '../../lib/keys.js'
import { ComponentContext } from '../../lib/context.js'

// Every key comes from one builder: <prefix>:<namespace>:<parts…>, parts escaped,
// personal parts hashed, plugin namespaces reserved.
const keys = new KeyBuilder({ prefix: 'app', hashSecret: 's3cret' })

t.test('keys are <prefix>:<namespace>:<parts…>', async (t) => {
  t.same(keys.key('users', 42, 'profile'), { ok: true, value: 'app:users:42:profile' })
  t.same(new KeyBuilder().key('ns', 'x'), { ok: true, value: 'cachekit:ns:x' }, 'default prefix')
})

t.test('parts are escaped so one cannot forge another', async (t) => {
  const forged = keys.key('users', 'a:b')
  const honest = keys.key('users', 'a', 'b')
  t.not(forged.ok && forged.value, honest.ok && honest.value)
  t.same(keys.key('x', 'a:{b}*?[c]\\%'), { ok: true, value: 'app:x:a%3A%7Bb%7D%2A%3F%5Bc%5D%5C%25' })
})

t.test('hash tags group keys in one Cluster slot', async (t) => {
  t.same(keys.tagged('sess', 'u1', 's9'), { ok: true, value: 'app:sess:{u1}:s9' })
  t.same(keys.tagged('sess', 'u{1}'), { ok: true, value: 'app:sess:{u%7B1%7D}' }, 'a tag cannot close itself early')
  const bad = keys.tagged('sess', '')
  t.equal(!bad.ok && bad.error.code, 'INVALID_ARGUMENT')
})

t.test('personal parts become a keyed hash, never clear text', async (t) => {
  const k = keys.key('login', personal('alice@example.com'))
  t.ok(k.ok)
  const value = k.ok ? k.value : ''
  t.notMatch(value, /alice|example/)
  t.match(value, /^app:login:[A-Za-z0-9_-]{22}$/)
  t.same(keys.key('login', personal('alice@example.com')), k, 'stable')
  const other = new KeyBuilder({ prefix: 'app', hashSecret: 'other' }).key('login', personal('alice@example.com'))
  t.not(other.ok && other.value, value, 'depends on the secret')
  const empty = keys.key('login', personal(''))
  t.equal(!empty.ok && empty.error.code, 'INVALID_ARGUMENT')
})

t.test('invalid parts are INVALID_ARGUMENT', async (t) => {
  const bad: unknown[] = ['', 'a\u0000b', 'tab\there', 'x'.repeat(513), Number.NaN, Number.POSITIVE_INFINITY, null, undefined, {}, true]
  for (const part of bad) {
    const r = keys.key('ns', part as string)
    t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', `part ${JSON.stringify(part)}`)
  }
  for (const ns of ['', 'a:b', 'x'.repeat(65), 'sp ace']) {
    const r = keys.key(ns, 'p')
    t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', `namespace ${JSON.stringify(ns)}`)
  }
})

t.test('patterns escape their parts and end with :*', async (t) => {
  t.same(keys.pattern('users', 'a*'), { ok: true, value: 'app:users:a%2A:*' })
  const bad = keys.pattern('users', '')
  t.equal(bad.ok, false)
  t.equal(keys.everything, 'app:*')
})

t.test('raw keys are checked and prefixed', async (t) => {
  t.same(keys.raw('users:42'), { ok: true, value: 'app:users:42' })
  for (const key of ['', 'a\nb', 'x'.repeat(2049)]) {
    const r = keys.raw(key)
    t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
  }
})

t.test('namespaceOf reads the first segment after the prefix', async (t) => {
  t.equal(keys.namespaceOf('app:users:42'), 'users')
  t.equal(keys.namespaceOf('app:lonely'), 'default')
})

t.test('a bad prefix is refused at construction', async (t) => {
  t.throws(() => new KeyBuilder({ prefix: 'has:colon' }), /prefix/)
  t.throws(() => new KeyBuilder({ prefix: '' }), /prefix/)
})

t.test('every key a plugin builds is in a namespace reserved from the cache adapter', async (t) => {
  const { RESERVED_NAMESPACES } = await import('../../lib/namespaces.js')
  const { MemoryStore } = await import('../../lib/store/memory-store.js')
  const { SessionCache } = await import('../../lib/session/session-cache.js')
  const { AuthzCache } = await import('../../lib/authz/authz-cache.js')
  const { OAuthStateStore } = await import('../../lib/oauth/state-store.js')
  const { TokenBucket } = await import('../../lib/rate-limit/token-bucket.js')
  const store = new MemoryStore({ prefix: 'app' })
  const sessions = new SessionCache(new ComponentContext({ store, keys }))
  const id = sessions.newId('ann')
  const built = [
    id.ok ? sessions.keyOf(id.value) : id,
    sessions.indexKeyOf('ann'),
    new AuthzCache(new ComponentContext({ store, keys }), { decider: async () => true }).decisionKey('ann', 'doc', 'read'),
    new OAuthStateStore(new ComponentContext({ store, keys })).keyFor('a'.repeat(43)),
    new TokenBucket(new ComponentContext({ store, keys })).keyFor('login')
  ]
  for (const key of built) {
    const namespace = key.ok ? keys.namespaceOf(key.value) : key.error.message
    t.ok(RESERVED_NAMESPACES.has(namespace), `${namespace} is reserved`)
  }
})

t.test('a hash is the same whether remembered or not, past the memo\'s size too', async (t) => {
  const keys = new KeyBuilder({ prefix: 'app', hashSecret: 'memo-secret' })
  const fresh = (): KeyBuilder => new KeyBuilder({ prefix: 'app', hashSecret: 'memo-secret' })
  const first = keys.hash('198.51.100.7')
  t.equal(keys.hash('198.51.100.7'), first, 'remembered')
  for (let i = 0; i <= HASH_MEMO_SIZE; i++) keys.hash(`id-${i}`)
  t.equal(keys.hash('198.51.100.7'), first, 'after the memo started over')
  t.equal(keys.hash(`id-${HASH_MEMO_SIZE}`), fresh().hash(`id-${HASH_MEMO_SIZE}`), 'as another builder with the secret computes it')
  t.not(new KeyBuilder({ prefix: 'app', hashSecret: 'other' }).hash('198.51.100.7'), first, 'another secret, another hash')
})
