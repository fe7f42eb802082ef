import t from 'tap'
import { MemoryData } from '../../lib/store/memory-data.js'
import type { ScriptContext } from '../../lib/scripts.js'
import { MODE, tokenBucketScript, type BucketReply } from '../../lib/rate-limit/token-bucket-script.js'
import type { Result } from '../../lib/result.js'
import { sleep } from '../../harness/wait.js'
import { fileRedis, storeBackends } from '../helpers/backends.js'
import { redisStore } from '../helpers/stores.js'

// The script and its twin, through the store's runScript, on both backends:
// same arguments, same answers. Args: capacity, µs per token, cost, dry run.
const HOUR_PER_TOKEN = 3_600_000_000
/** The reply for the one bucket of a one-key call. */
const one = (r: Result<BucketReply[]>): Result<BucketReply> => r.ok ? { ok: true, value: r.value[0] as BucketReply } : r

for (const { name, store } of await storeBackends('test')) {
  t.test(`token-bucket script: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })
    const run = (key: string, capacity: number, intervalUs: number, cost: number, dry = false) =>
      store.runScript(tokenBucketScript, [`test:${key}`], [capacity, intervalUs, cost, dry ? '1' : '0']).then(one)

    t.test('counts down from capacity, then refuses with a retry time that is not early', async (t) => {
      const seen = []
      for (let i = 0; i < 4; i++) seen.push(await run('a', 3, 1_000_000, 1))
      t.same(seen.slice(0, 3).map((r) => r.ok && [r.value.allowed, r.value.remaining, r.value.retryAfterMs]),
        [[true, 2, 0], [true, 1, 0], [true, 0, 0]])
      const refused = seen[3]
      t.ok(refused?.ok && !refused.value.allowed, 'the fourth is refused')
      // three tokens out at 1 s each: a token is back in (just under) 1 s, never sooner
      t.ok(refused?.ok && refused.value.retryAfterMs > 900 && refused.value.retryAfterMs <= 1000, `retryAfterMs ${String(refused?.ok && refused.value.retryAfterMs)}`)
      t.ok(refused?.ok && refused.value.resetMs > 2900 && refused.value.resetMs <= 3000, 'full again after about 3 s')
    })

    t.test('a cost takes that many tokens; a cost that cannot be paid now is refused without writing', async (t) => {
      const first = await run('c', 10, HOUR_PER_TOKEN, 4)
      t.same(first.ok && [first.value.allowed, first.value.remaining], [true, 6])
      const stored = await store.get('test:c')
      const tooMuch = await run('c', 10, HOUR_PER_TOKEN, 7)
      t.same(tooMuch.ok && [tooMuch.value.allowed, tooMuch.value.remaining], [false, 6])
      t.ok(tooMuch.ok && tooMuch.value.retryAfterMs > 3_599_000 && tooMuch.value.retryAfterMs <= 3_600_000, 'one more token is an hour away')
      t.same(await store.get('test:c'), stored, 'the refusal wrote nothing')
      const rest = await run('c', 10, HOUR_PER_TOKEN, 6)
      t.same(rest.ok && [rest.value.allowed, rest.value.remaining], [true, 0])
    })

    t.test('refills with time and caps at capacity', async (t) => {
      // 2 tokens, one every 20 ms
      for (let i = 0; i < 2; i++) await run('r', 2, 20_000, 1)
      const empty = await run('r', 2, 20_000, 1)
      t.equal(empty.ok && empty.value.allowed, false, 'empty')
      await sleep(120)
      const refilled = await run('r', 2, 20_000, 0, true)
      t.same(refilled.ok && [refilled.value.allowed, refilled.value.remaining, refilled.value.resetMs], [true, 2, 0], 'full, and no more than full')
      t.same(await store.exists('test:r'), { ok: true, value: false }, 'a full bucket has no key')
    })

    t.test('the key expires when the bucket would be full again', async (t) => {
      const r = await run('e', 5, 1_000_000, 2)
      t.ok(r.ok && r.value.resetMs === 2000)
      const ttl = await store.ttl('test:e')
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 1.9 && ttl.value <= 2, `ttl ${String(ttl.ok && ttl.value)}`)
    })

    t.test('a dry run and a cost of 0 look without writing', async (t) => {
      const peek = await run('p', 3, HOUR_PER_TOKEN, 1, true)
      t.same(peek.ok && [peek.value.allowed, peek.value.remaining, peek.value.resetMs], [true, 3, 0], 'says what is there now: a full bucket, full now')
      await run('p', 3, HOUR_PER_TOKEN, 1)
      const after = await run('p', 3, HOUR_PER_TOKEN, 1, true)
      t.same(after.ok && [after.value.allowed, after.value.remaining, Math.round(after.value.resetMs / 1000)], [true, 2, 3600], 'one taken: two there, full in an hour')
      await store.delete('test:p')
      t.same(await store.exists('test:p'), { ok: true, value: false })
      const zero = await run('p', 3, HOUR_PER_TOKEN, 0)
      t.same(zero.ok && [zero.value.allowed, zero.value.remaining, zero.value.resetMs], [true, 3, 0])
      t.same(await store.exists('test:p'), { ok: true, value: false })
    })

    t.test('a lowered capacity never reports negative tokens', async (t) => {
      await run('l', 10, HOUR_PER_TOKEN, 10)
      const r = await run('l', 2, HOUR_PER_TOKEN, 1)
      t.same(r.ok && [r.value.allowed, r.value.remaining], [false, 0])
    })

    t.test('a cost above the capacity, or nonsense arguments, are INVALID_ARGUMENT', async (t) => {
      const over = await run('x', 3, 1000, 4)
      t.equal(!over.ok && over.error.code, 'INVALID_ARGUMENT')
      t.match(!over.ok && over.error.message, /exceeds the capacity 3/)
      for (const args of [['', 1000, 1, '0'], [0, 1000, 1, '0'], [3, 0, 1, '0'], [3, 1000, -1, '0'], ['x', 1000, 1, '0'], [3, 1000, ' ', '0']]) {
        const r = await store.runScript(tokenBucketScript, ['test:x'], args)
        t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', JSON.stringify(args))
      }
    })

    t.test('one call decides several buckets in order, each as a call of its own would', async (t) => {
      // a: 3 tokens, b: 2 tokens; a appears twice and its second take sees the first
      const r = await store.runScript(tokenBucketScript, ['test:ma', 'test:mb', 'test:ma', 'test:mb'],
        [3, HOUR_PER_TOKEN, 1, '0', 2, HOUR_PER_TOKEN, 2, '0', 3, HOUR_PER_TOKEN, 1, '0', 2, HOUR_PER_TOKEN, 1, '0'])
      t.same(r.ok && r.value.map((b) => [b.allowed, b.remaining]), [[true, 2], [true, 0], [true, 1], [false, 0]])
      const after = one(await store.runScript(tokenBucketScript, ['test:ma'], [3, HOUR_PER_TOKEN, 0, '1']))
      t.same(after.ok && after.value.remaining, 1, 'both takes of a were kept')
    })

    t.test('one bad bucket fails the whole call before anything is written', async (t) => {
      const r = await store.runScript(tokenBucketScript, ['test:ok1', 'test:bad', 'test:ok2'],
        [3, HOUR_PER_TOKEN, 1, '0', 3, HOUR_PER_TOKEN, 4, '0', 3, HOUR_PER_TOKEN, 1, '0'])
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      t.match(!r.ok && r.error.message, /cost 4 exceeds the capacity 3/)
      t.same([await store.exists('test:ok1'), await store.exists('test:ok2')], [{ ok: true, value: false }, { ok: true, value: false }], 'neither good bucket was taken from')
      const short = await store.runScript(tokenBucketScript, ['test:ok1', 'test:ok2'], [3, HOUR_PER_TOKEN, 1, '0', 3])
      t.equal(!short.ok && short.error.code, 'INVALID_ARGUMENT')
      t.match(!short.ok && short.error.message, /four arguments per key \(and optionally the time\), got 5 for 2/)
    })

    t.test('a stored value that is not a number counts as a full bucket', async (t) => {
      await store.set('test:junk', 'junk')
      const r = await run('junk', 3, HOUR_PER_TOKEN, 1)
      t.same(r.ok && [r.value.allowed, r.value.remaining], [true, 2])
    })
  })
}

t.test('twin and Lua agree step by step on the same sequence', async (t) => {
  const [redisSide, memorySide] = await storeBackends('parity')
  const steps: Array<[number, number]> = [[1, 1], [3, 0], [2, 1], [5, 1], [10, 1], [0, 0], [1, 1], [4, 1], [6, 0]]
  for (const [i, [cost, dry]] of steps.entries()) {
    const answers = []
    for (const side of [redisSide, memorySide]) {
      const r = one(await side?.store.runScript(tokenBucketScript, ['parity:k'], [10, HOUR_PER_TOKEN, cost, String(dry)]) as Result<BucketReply[]>)
      answers.push(r?.ok && [r.value.allowed, r.value.remaining, Math.round(r.value.retryAfterMs / 1000), Math.round(r.value.resetMs / 1000)])
    }
    t.same(answers[1], answers[0], `step ${i}: cost ${cost}${dry === 1 ? ' (dry)' : ''}`)
  }
})

t.test('twin and Lua agree on the penalties', async (t) => {
  const [redisSide, memorySide] = await storeBackends('parity-penalty')
  const modes = [MODE.continueExceeding, MODE.exponentialBackoff, MODE.countRefusals + MODE.banUnit * 2, MODE.exponentialBackoff + MODE.dryRun, MODE.continueExceeding + MODE.exponentialBackoff]
  for (const mode of modes) {
    const answers = []
    for (const side of [redisSide, memorySide]) {
      const seen = []
      for (let i = 0; i < 6; i++) {
        const r = one(await side?.store.runScript(tokenBucketScript, [`parity-penalty:${mode}`], [3, HOUR_PER_TOKEN, 1, String(mode)]) as Result<BucketReply[]>)
        seen.push(r?.ok && [r.value.allowed, r.value.remaining, Math.round(r.value.retryAfterMs / 1000), Math.round(r.value.resetMs / 1000), r.value.refusals])
      }
      answers.push(seen)
    }
    t.same(answers[1], answers[0], `mode ${mode}`)
    t.equal((answers[0] as Array<[boolean]>).filter((a) => !a[0]).length, mode % 2 === 1 ? 0 : 3, 'three refused after three taken')
  }
})

t.test('at a time given in ARGV (clock process), twin and Lua agree exactly, a ban holding until the bucket is full', async (t) => {
  const [redisSide, memorySide] = await storeBackends('parity-time')
  const ban1 = String(MODE.countRefusals + MODE.banUnit * 2)
  // 2 tokens, one back every 500 ms; µs since the epoch, as Date.now() * 1000 would give
  const t0 = 1_000_000_000_000_000
  const steps: Array<[number, string]> = [[0, ban1], [0, ban1], [400, ban1], [400, ban1], [900, ban1], [1399, ban1], [1400, ban1], [1400, '1'], [5000, '0']]
  const answers = []
  for (const side of [redisSide, memorySide]) {
    const seen = []
    for (const [ms, mode] of steps) {
      const r = one(await side?.store.runScript(tokenBucketScript, ['parity-time:k'], [2, 500_000, 1, mode, t0 + ms * 1000]) as Result<BucketReply[]>)
      seen.push(r?.ok ? [r.value.allowed, r.value.remaining, r.value.retryAfterMs, r.value.resetMs, r.value.refusals] : r?.error.code)
    }
    answers.push(seen)
  }
  t.same(answers[1], answers[0], 'same answers to the millisecond')
  t.same(answers[0], [
    [true, 1, 0, 500, 0], [true, 0, 0, 1000, 0],
    [false, 0, 100, 600, 1], // a token is 100 ms away
    [false, 0, 1000, 1000, 2], // the second refusal in a row exceeds the ban of 1: banned until full, a whole refill from now
    [false, 0, 500, 500, 3], // a token is back (500 ms later), but the ban holds
    [false, 0, 1, 1, 4],
    [true, 1, 0, 500, 0], // full: the ban is over
    [true, 1, 0, 500, 0], // a dry run at the same instant
    [true, 1, 0, 500, 0] // a plain take, long after
  ])
  for (const side of [redisSide, memorySide]) {
    for (const time of ['soon', '-1', '1.5']) {
      const bad = await side?.store.runScript(tokenBucketScript, ['parity-time:k'], [2, 500_000, 1, '0', time])
      t.equal(bad?.ok === false && bad.error.code, 'INVALID_ARGUMENT', `${side?.name ?? ''}: a time of ${time} is refused`)
    }
  }
})

t.test('twin and Lua agree on a call that decides several buckets', async (t) => {
  const [redisSide, memorySide] = await storeBackends('parity-many')
  const keys = ['parity-many:a', 'parity-many:b', 'parity-many:a', 'parity-many:c', 'parity-many:a', 'parity-many:b']
  const args = [2, HOUR_PER_TOKEN, 1, '0', 5, HOUR_PER_TOKEN, 5, '0', 2, HOUR_PER_TOKEN, 1, '0', 4, HOUR_PER_TOKEN, 2, '1', 2, HOUR_PER_TOKEN, 1, '0', 5, HOUR_PER_TOKEN, 0, '0']
  const answers = []
  for (const side of [redisSide, memorySide]) {
    const r = await side?.store.runScript(tokenBucketScript, keys, args)
    answers.push(r?.ok && r.value.map((b) => [b.allowed, b.remaining, Math.round(b.retryAfterMs / 1000), Math.round(b.resetMs / 1000)]))
  }
  t.same(answers[0], [[true, 1, 0, 3600], [true, 0, 0, 18000], [true, 0, 0, 7200], [true, 4, 0, 0], [false, 0, 3600, 7200], [true, 0, 0, 18000]])
  t.same(answers[1], answers[0], 'the twin gives the same answers')
})

t.test('twin gives exact numbers at a fixed time', async (t) => {
  const data = new MemoryData(10)
  let now = Date.now()
  const ctx = { nowMs: () => now, get: (k: string) => data.get(k), set: (k: string, v: string, ms?: number) => { data.set(k, v, ms) } } as unknown as ScriptContext
  const call = (cost: number) => tokenBucketScript.decode(tokenBucketScript.twin(ctx, ['k'], ['3', '400000', String(cost), '0']))[0]
  t.same(call(2), { allowed: true, remaining: 1, retryAfterMs: 0, resetMs: 800, refusals: 0 })
  t.same(call(2), { allowed: false, remaining: 1, retryAfterMs: 400, resetMs: 800, refusals: 1 })
  now += 400
  t.same(call(2), { allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 1200, refusals: 0 })
  t.throws(() => tokenBucketScript.decode([1, 2, 3, 4]), /five integers per bucket/)
  t.throws(() => tokenBucketScript.decode([]), /five integers per bucket/)
  t.throws(() => tokenBucketScript.decode([1, 2, 3, 4, '5']), /five integers per bucket/)
  t.throws(() => tokenBucketScript.decode('x'), /five integers per bucket/)
})

t.test('penalties at a fixed time: continue exceeding, exponential backoff, a ban', async (t) => {
  const data = new MemoryData(10)
  let now = Date.now()
  const ctx = { nowMs: () => now, get: (k: string) => data.get(k), set: (k: string, v: string, ms?: number) => { data.set(k, v, ms) } } as unknown as ScriptContext
  // 2 tokens, one back every 500 ms: a whole refill is 1 s
  const call = (key: string, mode: number) => {
    const r = tokenBucketScript.decode(tokenBucketScript.twin(ctx, [key], ['2', '500000', '1', String(mode)]))[0] as BucketReply
    return [r.allowed, r.retryAfterMs, r.refusals]
  }
  const empty = (key: string, mode: number): void => { call(key, mode); call(key, mode) }

  empty('plain', 0)
  t.same([call('plain', 0), call('plain', 0)], [[false, 500, 1], [false, 500, 1]], 'plain: refusals change nothing and are not counted')

  empty('cont', MODE.continueExceeding)
  t.same(call('cont', MODE.continueExceeding), [false, 500, 1], 'continue exceeding: refused...')
  now += 400
  t.same(call('cont', MODE.continueExceeding), [false, 500, 2], '...and each refusal empties the bucket again: a token 500 ms after it')
  now += 500
  t.same(call('cont', MODE.continueExceeding), [true, 0, 0], 'a client that waits gets through, and the count starts over')

  empty('expo', MODE.exponentialBackoff)
  t.same([1, 2, 3, 4].map(() => call('expo', MODE.exponentialBackoff)), [[false, 500, 1], [false, 1500, 2], [false, 3500, 3], [false, 7500, 4]],
    'backoff: the nth refusal in a row makes the bucket full only 1 s × 2^(n-1) later')
  t.same(call('expo', MODE.exponentialBackoff + MODE.dryRun), [false, 7500, 5], 'a dry run says what the next refusal would be, and changes nothing')
  t.same(call('expo', MODE.exponentialBackoff), [false, 15_500, 5])

  const ban1 = MODE.countRefusals + MODE.banUnit * 2
  now += 1_000_000
  empty('ban', ban1)
  now += 400
  t.same([call('ban', ban1), call('ban', ban1), call('ban', ban1)], [[false, 100, 1], [false, 1000, 2], [false, 1000, 3]],
    'a ban of 1: the second refusal in a row empties the bucket for a whole refill, and no token comes before it is full; the count goes on')
  now += 500
  t.same(call('ban', ban1), [false, 500, 4], 'banned: refused although a token is back')
  t.same(tokenBucketScript.decode(tokenBucketScript.twin(ctx, ['ban'], ['2', '500000', '1', String(ban1 + MODE.dryRun)]))[0],
    { allowed: false, remaining: 0, retryAfterMs: 500, resetMs: 500, refusals: 5 }, 'a dry run sees the ban, with no token to claim')
  now += 500
  t.same(call('ban', ban1), [true, 0, 0], 'full again: the ban is over')
  t.equal(data.get('ban'), String((now + 500) * 1000), 'an allowed take forgets the count')

  empty('zero', ban1)
  call('zero', ban1)
  t.match(data.get('zero'), /:1$/, 'a refusal counted')
  const free = tokenBucketScript.decode(tokenBucketScript.twin(ctx, ['zero'], ['2', '500000', '0', String(ban1)]))[0]
  t.same([free?.allowed, free?.refusals], [true, 0], 'a take of nothing is allowed...')
  t.notMatch(data.get('zero'), /:/, '...and forgets the count too')

  data.set('odd', `${now * 1000 + 1_000_000}:x`, 1000)
  t.same(call('odd', ban1), [false, 500, 1], 'an unreadable count is no count')
  t.same(tokenBucketScript.decode(tokenBucketScript.twin(ctx, ['odd2'], ['2', '500000', '1', 'x']))[0]?.allowed, true, 'an unreadable mode is a plain take')
})

t.test('after SCRIPT FLUSH the next call reloads the script and still counts', async (t) => {
  const { store, close } = await redisStore(await fileRedis(), 'flush')
  t.teardown(close)
  await store.loadScripts([tokenBucketScript])
  const first = one(await store.runScript(tokenBucketScript, ['flush:k'], [2, HOUR_PER_TOKEN, 1, '0']))
  t.same(first.ok && first.value.remaining, 1)
  await (await fileRedis()).client().script('FLUSH') // as the unrestricted user (CACHEKIT_TEST_REDIS_ACL=1)
  const second = one(await store.runScript(tokenBucketScript, ['flush:k'], [2, HOUR_PER_TOKEN, 1, '0']))
  t.same(second.ok && [second.value.allowed, second.value.remaining], [true, 0], 'no error, state kept')
  const third = one(await store.runScript(tokenBucketScript, ['flush:k'], [2, HOUR_PER_TOKEN, 1, '0']))
  t.equal(third.ok && third.value.allowed, false)
})
