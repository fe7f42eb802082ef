/**
 * Waiting, for the Redis harness, the tests and the bench alike: a fixed pause,
 * and a poll that gives up with a message instead of hanging until tap's
 * per-file timeout.
 */

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

export interface UntilOptions {
  /** Give up after this long (default 5 s). */
  withinMs?: number
  /** Ask again after this long (default 20 ms). */
  everyMs?: number
}

/** Asks `check` until it answers true; throws, naming `what`, when `withinMs` pass first. */
export async function until (what: string, check: () => boolean | Promise<boolean>, options: UntilOptions = {}): Promise<void> {
  const { withinMs = 5000, everyMs = 20 } = options
  const deadline = Date.now() + withinMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${withinMs} ms waiting until ${what}`)
    await sleep(everyMs)
  }
}
