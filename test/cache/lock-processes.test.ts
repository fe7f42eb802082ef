import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import t from 'tap'
import { fileRedis } from '../helpers/backends.js'

// The load lock across real processes: two app instances (child processes, each
// with its own connection and its own single flight) miss one key together with
// `lock`, and the loader runs once between them.

const repo = new URL('../../', import.meta.url).pathname

/** An app process on `url`; its loader's bookkeeping (INCR, the gate) on `sideUrl`, the unrestricted user (CACHEKIT_TEST_REDIS_ACL=1). */
function instance (url: string, sideUrl: string): { lines: AsyncIterator<string>, send: (line: string) => void, done: Promise<number | null> } {
  const env: Record<string, string | undefined> = { _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(TAP|_TAPJS_|NODE_OPTIONS$|NODE_V8_COVERAGE$)/.test(k)) env[k] = v
  env.REDIS_URL = url
  env.SIDE_REDIS_URL = sideUrl
  const child = spawn(process.execPath, [repo + 'node_modules/tsx/dist/cli.mjs', repo + 'test/fixtures/cache-instance.ts'], { env, stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const done = new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { lines, send: (line) => child.stdin.write(line + '\n'), done }
}

async function expectLine (lines: AsyncIterator<string>, what: string): Promise<string> {
  const next = await lines.next()
  if (next.done === true) throw new Error(`the instance ended before saying ${what}`)
  return next.value
}

t.test('with lock, two app processes missing together run the loader once between them', async (t) => {
  const redis = await fileRedis()
  // the test's own reads and writes as the unrestricted user: the app's user may lack INCR (CACHEKIT_TEST_REDIS_ACL=1)
  const side = new Redis(redis.adminUrl)
  t.teardown(() => side.disconnect())
  await side.del('procs-test:loads', 'procs-test:gate', 'procs:shared:1')
  const instances = [instance(redis.url, redis.adminUrl), instance(redis.url, redis.adminUrl)]
  for (const i of instances) t.equal(await expectLine(i.lines, 'ready'), 'ready')
  for (const i of instances) i.send('go')
  // both are loading or waiting on the lock before the loader may finish
  for (const i of instances) t.equal(await expectLine(i.lines, 'started'), 'started')
  await side.set('procs-test:gate', '1')
  const reports = await Promise.all(instances.map(async (i) => JSON.parse(await expectLine(i.lines, 'its answers')) as { values: string[], loaderCalls: number, lockWaits: number }))
  t.same(await Promise.all(instances.map(async (i) => await i.done)), [0, 0])
  t.equal(await side.get('procs-test:loads'), '1', 'one loader call across both processes')
  const values = reports.flatMap((r) => r.values)
  t.equal(new Set(values).size, 1, 'every call of both answered the one loaded value')
  t.match(values[0], /^loaded by \d+$/)
  t.same(reports.map((r) => r.loaderCalls).sort(), [0, 1])
  t.same(reports.map((r) => r.lockWaits).sort(), [0, 1], 'the other process waited on the lock')
})
