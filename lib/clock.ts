/**
 * The wall clock (epoch ms, as `Date.now()`) read off a `performance.now()`
 * reading the caller already has: a hit path times itself with the monotonic
 * clock and checks a value's freshness against the wall clock, and each clock
 * read costs about as much as the rest of its bookkeeping.
 *
 * The two clocks run at the same rate (NTP slews both); only a step of the
 * system clock (set by hand, NTP stepping, a VM resumed) moves them apart. The
 * offset between them is taken again whenever a second has passed since it was
 * last taken, so a step is seen within a second, as if the instance's clock had
 * disagreed with the writer's for that long (envelope.ts says what that does).
 */

const RESYNC_MS = 1000

let offset = Date.now() - performance.now()
let syncedAt = performance.now()

/** `Date.now()` at the moment `performanceNow` (a `performance.now()` reading) was taken, within ±1 ms. */
export function wallClock (performanceNow: number): number {
  if (performanceNow - syncedAt >= RESYNC_MS) {
    const now = performance.now()
    offset = Date.now() - now
    syncedAt = now
  }
  return offset + performanceNow
}

let seenDateNow: unknown
let seenFaked = false

/**
 * Whether `Date.now` is not the engine's own: a test suite faking timers
 * (sinon, `node:test` mock timers, Jest) replaces it with a function of its
 * own. The verdict is kept until `Date.now` changes, so a check costs one
 * comparison. Production code never fakes Date; a suite that does means its
 * clock to be followed.
 */
export function dateIsFaked (): boolean {
  const now = Date.now
  if (now !== seenDateNow) {
    seenDateNow = now
    seenFaked = !Function.prototype.toString.call(now).includes('[native code]')
  }
  return seenFaked
}
