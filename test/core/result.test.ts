import t from 'tap'
import { attempt, CacheError, fail, isOutage, ok, toFailure, unwrap, valueOr } from '../../lib/result.js'

// The Result every cache-facing method answers with, and its helpers.

t.test('ok and fail build the two shapes', async (t) => {
  t.same(ok(1), { ok: true, value: 1 })
  const f = fail('TIMEOUT', 'slow', new Error('root'))
  t.equal(f.ok, false)
  t.equal(f.error.code, 'TIMEOUT')
  t.equal(f.error.name, 'CacheError')
  t.equal((f.error.cause as Error).message, 'root')
  t.equal(fail('INTERNAL', 'x').error.cause, undefined)
})

t.test('helpers', async (t) => {
  t.equal(valueOr(ok(2), 5), 2)
  t.equal(valueOr(fail('UNAVAILABLE', 'down'), 5), 5)
  t.ok(isOutage(new CacheError('TIMEOUT', '')))
  t.ok(isOutage(new CacheError('UNAVAILABLE', '')))
  t.notOk(isOutage(new CacheError('DECODE', '')))
  t.same(attempt('DECODE', () => 3), { ok: true, value: 3 })
  const thrown = attempt('DECODE', () => JSON.parse('{'))
  t.equal(!thrown.ok && thrown.error.code, 'DECODE')
  const kept = toFailure(new CacheError('ENCODE', 'e'), 'INTERNAL')
  t.equal(kept.error.code, 'ENCODE', 'a CacheError keeps its code')
  t.equal(toFailure(new Error('x'), 'INTERNAL').error.code, 'INTERNAL')
  t.equal(unwrap(ok(4)), 4)
  t.throws(() => unwrap(fail('UNAVAILABLE', 'down')), { code: 'UNAVAILABLE' })
})
