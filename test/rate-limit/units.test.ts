import t from 'tap'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { rateLimitHeader, rateLimitPolicyHeader, refusalBody, tooManyRequestsProblem } from '../../lib/rate-limit/headers.js'
import { foldIp, ipIdentity, userIdentity } from '../../lib/rate-limit/identity.js'
import { tokenBucketStore, type LimitState } from '../../lib/rate-limit/limiter-store.js'
import { MemoryStore } from '../../lib/store/memory-store.js'

// The small parts of the rate limiter: client identities, headers and refusal
// bodies, and the store @fastify/rate-limit calls.

t.test('foldIp: IPv4 as is, IPv6 to its /64, IPv4-mapped to IPv4', async (t) => {
  t.equal(foldIp('192.0.2.1'), '192.0.2.1')
  t.equal(foldIp('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(foldIp('2001:DB8:0001:0002::9'), '2001:db8:1:2::/64', 'case and leading zeros do not split a client')
  t.equal(foldIp('::1'), '0:0:0:0::/64')
  t.equal(foldIp('fe80::1%eth0'), 'fe80:0:0:0::/64', 'zone dropped')
  t.equal(foldIp('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(foldIp('::ffff:c000:201'), '192.0.2.1')
  t.equal(foldIp('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64', 'a dotted tail that is not a mapping stays IPv6')
})

t.test('identities: IP by default; the user by id or sub, else the IP', async (t) => {
  t.equal(ipIdentity({ ip: '2001:db8::1' }), '2001:db8:0:0::/64')
  t.equal(userIdentity({ ip: '192.0.2.1', user: { id: 42 } }), 'user:42')
  t.equal(userIdentity({ ip: '192.0.2.1', user: { sub: 'auth0|x' } }), 'user:auth0|x')
  t.equal(userIdentity({ ip: '192.0.2.1', user: 'bob' }), 'user:bob')
  t.equal(userIdentity({ ip: '192.0.2.1', user: { name: 'no id' } }), '192.0.2.1')
  t.equal(userIdentity({ ip: '192.0.2.1', user: null }), '192.0.2.1')
  t.equal(userIdentity({ ip: '192.0.2.1' }), '192.0.2.1')
})

t.test('draft headers and problem details', async (t) => {
  const allowed = { allowed: true, remaining: 7, retryAfterMs: 0, resetMs: 2500, limit: 10, source: 'store' } as const
  t.equal(rateLimitPolicyHeader('GET /a "b" \\ é', 10, 60_000), '"GET /a \\"b\\" \\\\ ?";q=10;w=60', 'an escaped sf-string')
  t.equal(rateLimitHeader('p', allowed), '"p";r=7;t=3')
  t.equal(rateLimitHeader('p', { ...allowed, allowed: false, remaining: 2, retryAfterMs: 1001 }), '"p";r=0;t=2')
  t.equal(rateLimitHeader('p', { ...allowed, remaining: null, source: 'open' }), undefined)
  t.same(tooManyRequestsProblem({ ...allowed, allowed: false, retryAfterMs: 1 }, '/x'), {
    type: 'about:blank', title: 'Too Many Requests', status: 429, detail: 'Rate limit of 10 exceeded; retry in 1 s.', instance: '/x', code: 'RATE_LIMITED', retryAfter: 1
  })
})

t.test('refusal bodies: the JSON of the default error handler, reused per number of seconds', async (t) => {
  const json = (seconds: number): string => JSON.stringify({ statusCode: 429, error: 'Too Many Requests', message: `Rate limit exceeded, retry in ${seconds} s` })
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
})
