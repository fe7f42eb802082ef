import t from 'tap'
import { CircuitBreaker } from '../../lib/breaker.js'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('opens after consecutive failures, probes once after the cooldown, closes on success', async (t) => {
  const b = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 30 })
  t.equal(b.state, 'closed')
  t.ok(b.allow())
  b.failure()
  t.equal(b.state, 'closed', 'one failure is not enough')
  b.failure()
  t.equal(b.state, 'open')
  t.notOk(b.allow(), 'fails fast while open')
  await sleep(40)
  t.equal(b.state, 'half-open')
  t.ok(b.allow(), 'one probe goes through')
  t.notOk(b.allow(), 'only one probe at a time')
  b.success()
  t.equal(b.state, 'closed')
  t.ok(b.allow())
})

t.test('a failed probe re-opens at once', async (t) => {
  const b = new CircuitBreaker({ failureThreshold: 5, cooldownMs: 20 })
  for (let i = 0; i < 5; i++) b.failure()
  await sleep(30)
  t.ok(b.allow())
  b.failure()
  t.equal(b.state, 'open')
  b.reset()
  t.equal(b.state, 'closed', 'reset closes (a fresh connection)')
})

t.test('success in between resets the count', async (t) => {
  const b = new CircuitBreaker()
  t.equal(b.failureThreshold, 3)
  t.equal(b.cooldownMs, 1000)
  b.failure(); b.failure(); b.success(); b.failure(); b.failure()
  t.equal(b.state, 'closed')
})
