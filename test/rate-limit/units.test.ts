import t from 'tap'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { inWords, rateLimitHeader, rateLimitPolicyHeader, refusalBody, tooManyRequestsProblem } from '../../lib/rate-limit/headers.js'
import { foldIp, ipIdentity, userIdentity } from '../../lib/rate-limit/identity.js'
import { tokenBucketStore, type LimitState } from '../../lib/rate-limit/limiter-store.js'
import { MemoryStore } from '../../lib/store/memory-store.js'

// The small parts of the rate limiter: client identities, headers and refusal
// bodies, and the store @fastify/rate-limit calls.

t.test('foldIp: IPv4 as is, IPv6 to its subnet (/64 unless told), IPv4-mapped to IPv4', async (t) => {
  t.equal(foldIp('192.0.2.1'), '192.0.2.1')
  t.equal(foldIp('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::')
  t.equal(foldIp('2001:DB8:0001:0002::9'), '2001:db8:1:2::', 'case and leading zeros do not split a client')
  t.equal(foldIp('::1'), '::')
  t.equal(foldIp('fe80::1%eth0'), 'fe80::', 'zone dropped')
  t.equal(foldIp('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(foldIp('::ffff:c000:201'), '192.0.2.1')
  t.equal(foldIp('64:ff9b::192.0.2.1'), '64:ff9b::', 'a dotted tail that is not a mapping stays IPv6')
  t.equal(foldIp('2001:db8:abcd:12::1', 48), '2001:db8:abcd::', 'a /48')
  t.equal(foldIp('2001:db8:abcd:12::1', 56), '2001:db8:abcd::', 'a /56 cuts inside a hextet')
  t.equal(foldIp('2001:db8:abcd:12ff::1', 56), '2001:db8:abcd:1200::')
  t.equal(foldIp('2001:db8:abcd:12::1', 128), '2001:db8:abcd:12::1', 'a /128 is the address')
  t.equal(foldIp('2001:0:0:1:0:0:0:1', 128), '2001:0:0:1::1', 'the longest run of zeros is the one compressed')
  t.equal(foldIp('2001:db8:abcd:12::1', 129), '2001:db8:abcd:12::', 'an impossible subnet falls back to /64')
  t.equal(foldIp('2001:db8:abcd:12::1', Number.NaN), '2001:db8:abcd:12::')
  t.equal(foldIp('Example.COM'), 'example.com', 'not an IP: lower-cased')
  t.equal(foldIp('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6', 'no run of zeros: nothing compressed')
})

t.test('identities: IP by default; the user by id or sub, else the IP; a forged IP is ignored', async (t) => {
  t.equal(ipIdentity({ ip: '2001:db8::1' }), '2001:db8::')
  t.equal(ipIdentity({ ip: 'not-an-ip', socket: { remoteAddress: '192.0.2.9' } }), '192.0.2.9', 'a resolved "IP" that is none counts as absent')
  t.equal(ipIdentity({ ip: 'x'.repeat(600), socket: { remoteAddress: '192.0.2.9' } }), '192.0.2.9')
  t.equal(ipIdentity({ ip: 'nope' }), 'unknown', 'nothing usable at all: one shared bucket, no error')
  t.equal(userIdentity({ ip: '192.0.2.1', user: { id: 42 } }), 'user:42')
  t.equal(userIdentity({ ip: '192.0.2.1', user: { sub: 'auth0|x' } }), 'user:auth0|x')
  t.equal(userIdentity({ ip: '192.0.2.1', user: 'bob' }), 'user:bob')
  t.equal(userIdentity({ ip: '192.0.2.1', user: { name: 'no id' } }), '192.0.2.1')
  t.equal(userIdentity({ ip: '192.0.2.1', user: null }), '192.0.2.1')
  t.equal(userIdentity({ ip: '192.0.2.1' }), '192.0.2.1')
})

t.test('durations in words, as @fastify/rate-limit words them', async (t) => {
  t.same([0, 999, 1000, 1499, 2000, 59_000, 60_000, 90_000, 3_600_000, 86_400_000, 2 * 31_557_600_000].map(inWords),
    ['0 ms', '999 ms', '1 second', '1 second', '2 seconds', '59 seconds', '1 minute', '2 minutes', '1 hour', '1 day', '2 years'])
})

t.test('draft headers and problem details', async (t) => {
  const allowed = { allowed: true, remaining: 7, retryAfterMs: 0, resetMs: 2500, limit: 10, source: 'store', refusals: 0 } as const
  t.equal(rateLimitPolicyHeader('GET /a "b" \\ é', 10, 60_000), '"GET /a \\"b\\" \\\\ ?";q=10;w=60', 'an escaped sf-string')
  t.equal(rateLimitHeader('p', allowed), '"p";r=7;t=3')
  t.equal(rateLimitHeader('p', { ...allowed, allowed: false, remaining: 2, retryAfterMs: 1001 }), '"p";r=0;t=2')
  t.equal(rateLimitHeader('p', { ...allowed, remaining: null, source: 'open' }), `"p";r=${allowed.limit};t=0`)
  t.same(tooManyRequestsProblem({ ...allowed, allowed: false, retryAfterMs: 1 }, '/x'), {
    type: 'about:blank', title: 'Too Many Requests', status: 429, detail: 'Rate limit of 10 exceeded; retry in 1 s.', instance: '/x', code: 'RATE_LIMITED', retryAfter: 1
  })
})

t.test('refusal bodies: the JSON of the default error handler, reused per number of seconds', async (t) => {
  const json = (seconds: number): string => JSON.stringify({ statusCode: 429, error: 'Too Many Requests', message: `Rate limit exceeded, retry in ${inWords(seconds * 1000)}` })
  t.equal(refusalBody(1500), json(2), 'seconds rounded up')
  t.equal(refusalBody(1001), refusalBody(2000), 'the same text for the same second')
  // more distinct waits than are kept: still right after the cache starts over
  const wrong = Array.from({ length: 1100 }, (_, i) => i + 1).filter((s) => refusalBody(s * 1000) !== json(s))
  t.same(wrong, [], 'every one of 1,100 distinct waits')
  t.equal(refusalBody(1), json(1))
})

t.test('the store works when called with a plain window (no request to report to)', async (t) => {
  const bucket = new TokenBucket(new ComponentContext({ store: new MemoryStore({ prefix: 'u' }), keys: new KeyBuilder({ prefix: 'u' }) }))
  const recorded: LimitState[] = []
  const Store = tokenBucketStore(bucket, { cost: 1, hashIdentities: false, record: (_r, s) => { recorded.push(s) } })
  const store = new Store({ max: 1, timeWindow: 60_000 })
  const call = () => new Promise((resolve) => { store.incr('1.2.3.4', (err, res) => { resolve([err, res]) }, 60_000, 1) })
  t.same(await call(), [null, { current: 1, ttl: 60_000 }])
  const [err, res] = await call() as [null, { current: number, ttl: number }]
  t.same([err, res.current], [null, 2], 'refused: current > max')
  t.ok(res.ttl > 59_000 && res.ttl <= 60_000, 'ttl: until the token is back')
  t.equal(recorded.length, 0)
  t.equal(store.scope, 'global')
  t.equal(store.child({ max: 1, timeWindow: 1000, routeInfo: {} }).scope, 'limiter-1', 'a limiter without route, group or name is numbered')
  t.equal(store.child({ max: 1, timeWindow: 1000, routeInfo: { method: ['GET', 'HEAD'], url: '/a' } }).scope, 'GET /a', 'HEAD is its GET')
  t.equal(store.child({ max: 1, timeWindow: 1000, routeInfo: { method: 'HEAD', url: '/a' } }).scope, 'GET /a')
})

t.test('many identities: hashes are remembered, boundedly, and stay right when the memo starts over', async (t) => {
  const bucket = new TokenBucket(new ComponentContext({ store: new MemoryStore({ prefix: 'm' }), keys: new KeyBuilder({ prefix: 'm' }) }))
  const Store = tokenBucketStore(bucket, { cost: 1, hashIdentities: true, record: () => {} })
  const store = new Store({ max: 1, timeWindow: 3_600_000 })
  const call = (key: string) => new Promise<number>((resolve) => { store.incr(key, (_err, res) => { resolve(res?.current ?? -1) }, 3_600_000, 1) })
  const first = []
  for (let i = 0; i < 10_050; i++) first.push(await call(`client-${i}`))
  t.ok(first.every((current) => current === 1), 'each identity its own bucket')
  t.same([await call('client-0'), await call('client-10049')], [2, 2], 'the same identity finds its bucket again, before and after the memo was cleared')
})

t.test('each decision is left on the request that asked for its window, whatever the order of the takes', async (t) => {
  const bucket = new TokenBucket(new ComponentContext({ store: new MemoryStore({ prefix: 'k' }), keys: new KeyBuilder({ prefix: 'k' }) }))
  const recorded: Array<[string, number | null]> = []
  const Store = tokenBucketStore(bucket, { cost: 1, hashIdentities: false, record: (request, s) => { recorded.push([(request as { name: string }).name, s.decision.remaining]) } })
  const params = { max: 5, timeWindow: 60_000 }
  const store = new Store(params)
  // as @fastify/rate-limit does: the window first (with the request), then the take (without it)
  const ask = params.timeWindow as unknown as (request: unknown, key: string) => number
  const take = (key: string) => new Promise((resolve) => { store.incr(key, resolve, 60_000, 5) })
  t.equal(ask({ name: 'a1' }, 'a'), 60_000)
  ask({ name: 'b1' }, 'b')
  ask({ name: 'a2' }, 'a')
  await take('b')
  await take('a')
  await take('a')
  t.same(recorded, [['b1', 4], ['a1', 4], ['a2', 3]], 'by key, oldest first, though b was taken before a')
  await take('c')
  t.equal(recorded.length, 3, 'a take nobody asked a window for reports to no request')

  // windows asked for and never taken are dropped, oldest first, beyond 10,000
  for (let i = 0; i < 10_001; i++) ask({ name: `x${i}` }, 'x')
  await take('x')
  t.same(recorded[3], ['x1', 4], 'the oldest (x0) was dropped')
})
