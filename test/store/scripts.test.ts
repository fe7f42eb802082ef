import t from 'tap'
import { fileRedis, ownRedis, storeBackends } from '../helpers/backends.js'
import { brokenScript, oddReplyScript, refuseScript, stampedIncrScript, zaddScript } from '../helpers/scripts.js'
import { redisStore } from '../helpers/stores.js'

// The script runner, proven with the tests' own small scripts on both faces.
for (const { name, store } of await storeBackends('scr')) {
  t.test(`script runner: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })

    t.test('runs with KEYS and ARGV and decodes the reply', async (t) => {
      t.same(await store.loadScripts([zaddScript, stampedIncrScript]), { ok: true, value: true })
      t.same(await store.runScript(zaddScript, ['scr:z'], [5, 'm']), { ok: true, value: 1 })
      t.same(await store.runScript(zaddScript, ['scr:z'], [6, 'm']), { ok: true, value: 0 }, 'update, not add')
      const before = Date.now()
      const r = await store.runScript(stampedIncrScript, ['scr:n'], [3])
      t.ok(r.ok)
      if (r.ok) {
        t.equal(r.value.value, 3)
        t.ok(Math.abs(r.value.nowMs - before) < 60_000, 'time comes from the server clock in ms')
      }
    })

    t.test('a script refusing bad input is INVALID_ARGUMENT', async (t) => {
      const r = await store.runScript(refuseScript, [], [])
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      t.equal(!r.ok && r.error.message, 'refused on purpose')
    })

    t.test('a reply the decoder rejects is SCRIPT', async (t) => {
      const r = await store.runScript(oddReplyScript, [], [])
      t.equal(!r.ok && r.error.code, 'SCRIPT')
    })

    t.test('a script that errors at run time is SCRIPT', async (t) => {
      const r = await store.runScript(brokenScript, [], [])
      t.equal(!r.ok && r.error.code, 'SCRIPT')
    })

    t.test('empty keys are refused before running', async (t) => {
      const r = await store.runScript(zaddScript, [''], [1, 'm'])
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
    })
  })
}

t.test('after SCRIPT FLUSH the runner reloads once and answers correctly', async (t) => {
  const redis = await fileRedis()
  const { store, close } = await redisStore(redis, 'scr')
  t.teardown(close)
  // the test's own commands go as the unrestricted user (CACHEKIT_TEST_REDIS_ACL=1 restricts the store's)
  const client = redis.client()
  await store.loadScripts([zaddScript])
  await client.script('FLUSH')
  t.same(await client.script('EXISTS', zaddScript.sha), [0], 'really gone')
  t.same(await store.runScript(zaddScript, ['scr:f'], [1, 'a']), { ok: true, value: 1 })
  t.same(await client.script('EXISTS', zaddScript.sha), [1], 'loaded again')
})

t.test('after a Redis restart (scripts lost) the next call still works', async (t) => {
  const own = await ownRedis(t)
  const { store, client, close } = await redisStore(own, 'scr')
  t.teardown(close)
  await store.runScript(zaddScript, ['scr:r'], [1, 'a'])
  await own.restart()
  await new Promise<void>((resolve) => { if (client.status === 'ready') resolve(); else client.once('ready', () => { resolve() }) })
  t.same(await store.runScript(zaddScript, ['scr:r'], [1, 'b']), { ok: true, value: 1 })
})
