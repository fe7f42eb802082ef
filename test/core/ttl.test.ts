import t from 'tap'
import { ttlOptionMs, ttlToMs } from '../../lib/ttl.js'

t.test('a TTL is seconds kept to the millisecond', async (t) => {
  t.same(ttlToMs(1), { ok: true, value: 1000 })
  t.same(ttlToMs(0.15), { ok: true, value: 150 })
  t.same(ttlToMs(0.0006), { ok: true, value: 1 }, 'rounds to the nearest millisecond')
  t.same(ttlToMs(3600, 'denyTtl', 3600), { ok: true, value: 3_600_000 }, 'the bound itself is allowed')
})

t.test('anything else is INVALID_ARGUMENT naming the option', async (t) => {
  for (const bad of [0, -1, Number.NaN, Infinity, '5', null, undefined, 0.0004]) {
    const ms = ttlToMs(bad, 'revocationTtl')
    t.equal(ms.ok ? 'ok' : ms.error.code, 'INVALID_ARGUMENT', `ttl ${String(bad)}`)
    t.match(!ms.ok && ms.error.message, /^revocationTtl /)
  }
  const over = ttlToMs(3601, 'allowTtl', 3600)
  t.match(!over.ok && over.error.message, 'allowTtl must be a number of seconds in (0, 3600], got 3601')
})

t.test('as an option, a bad TTL throws a TypeError naming its owner', async (t) => {
  t.equal(ttlOptionMs('SessionCache', 'ttl', 2), 2000)
  t.throws(() => ttlOptionMs('AuthzCache', 'allowTtl', 0.0001, 3600), { name: 'TypeError', message: /^AuthzCache: allowTtl 0.0001 s is shorter than one millisecond$/ })
  t.throws(() => ttlOptionMs('OAuthStateStore', 'ttl', 7200, 3600), { name: 'TypeError', message: /^OAuthStateStore: ttl must be a number of seconds in \(0, 3600\]/ })
})
