import { mock } from 'node:test'
import t from 'tap'
import { dateIsFaked, wallClock } from '../../lib/clock.js'

// The wall clock read off a performance.now() reading: Date.now() of that moment.

t.test('wallClock of now lies between Date.now() read before and after', async (t) => {
  for (let i = 0; i < 3; i++) {
    const before = Date.now()
    const wall = wallClock(performance.now())
    const after = Date.now()
    t.ok(wall >= before - 1 && wall <= after + 1, `${wall} in [${before - 1}, ${after + 1}]`)
  }
})

t.test('a reading more than a second on takes the offset again and still agrees with Date.now()', async (t) => {
  const now = performance.now()
  const later = wallClock(now + 5000)
  const before = Date.now()
  t.ok(later >= before + 5000 - 2 && later <= Date.now() + 5000 + 2)
  t.ok(Math.abs(wallClock(performance.now()) - Date.now()) <= 2, 'and readings of now after it')
})

t.test('dateIsFaked: false for the engine\'s Date.now, true while a test suite replaces it', async (t) => {
  t.equal(dateIsFaked(), false, 'Node\'s own Date.now')
  mock.timers.enable({ apis: ['Date'], now: 0 })
  try {
    t.equal(dateIsFaked(), true, 'node:test mock timers')
  } finally {
    mock.timers.reset()
  }
  t.equal(dateIsFaked(), false, 'real again after the reset')
  const native = Date.now
  Date.now = () => 42 // as sinon's fake-timers and Jest install theirs
  try {
    t.equal(dateIsFaked(), true, 'a plain function assigned to Date.now')
  } finally {
    Date.now = native
  }
  t.equal(dateIsFaked(), false)
})
