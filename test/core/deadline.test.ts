import t from 'tap'
import { Deadlines } from '../../lib/deadline.js'
import { CacheError } from '../../lib/result.js'

// Deadlines shared by the calls of one slice of time: a hung call still fails
// with TIMEOUT, a settled one keeps its own outcome, and no timer outlives its slice.

const never = new Promise<string>(() => {})
// the slices' timers are unref'd (a pending deadline does not hold a process up): something else must here
const awake = setInterval(() => {}, 1000)
t.teardown(() => { clearInterval(awake) })

t.test('a call that never settles fails with TIMEOUT naming its deadline', async (t) => {
  const deadlines = new Deadlines(20, 'Redis command')
  const err = await deadlines.bound(never).catch((e: unknown) => e)
  t.ok(err instanceof CacheError)
  t.match(err, { code: 'TIMEOUT', message: 'Redis command exceeded its 20 ms deadline' })
})

t.test('calls filed together: each keeps its own outcome, only the hung ones time out', async (t) => {
  const deadlines = new Deadlines(30)
  const boom = new Error('boom')
  const outcomes = await Promise.all([
    deadlines.bound(Promise.resolve('v')),
    deadlines.bound(never),
    deadlines.bound(Promise.reject(boom)),
    deadlines.bound(never, 5),
    deadlines.bound(new Promise((resolve) => { setTimeout(resolve, 1, 'soon') }))
  ].map(async (p) => await p.then((value) => ({ value }), (error: unknown) => ({ error }))))
  t.same(outcomes[0], { value: 'v' })
  t.match(outcomes[1], { error: { code: 'TIMEOUT', message: /30 ms deadline/ } })
  t.equal((outcomes[2] as { error: unknown }).error, boom, 'the call\'s own error, not a timeout')
  t.match(outcomes[3], { error: { code: 'TIMEOUT', message: /5 ms deadline/ } }, 'a shorter deadline given with the call')
  t.same(outcomes[4], { value: 'soon' })
})

t.test('every slice\'s timer ends: nothing is left pending once the deadlines have passed', async (t) => {
  const deadlines = new Deadlines(16)
  const calls = Array.from({ length: 100 }, async () => await deadlines.bound(never).catch(() => 'timed out'))
  t.ok(deadlines.pending > 0)
  t.same(new Set(await Promise.all(calls)), new Set(['timed out']))
  t.equal(deadlines.pending, 0)
})
