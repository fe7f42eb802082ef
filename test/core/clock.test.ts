import t from 'tap'
import { wallClock } from '../../lib/clock.js'

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
