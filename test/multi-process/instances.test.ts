import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort } from '../../harness/redis-server.js'
import { until } from '../../harness/wait.js'
import { fileRedis } from '../helpers/backends.js'
import { httpSender, type Send } from '../cluster/demo-tour.js'

// Three demo server processes on one Redis, as a deployment runs them: limits
// are global and exact, a revocation or a consumed OAuth state on one holds on
// all, and a role change on one is seen by the very next check on each other
// instance, asked first so that each holds a cached decision to get wrong.

const SERVER = fileURLToPath(new URL('../../demo/server.ts', import.meta.url))

interface Instance { name: string, send: Send, proc: ChildProcess }

async function startInstance (name: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort()
  const proc = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    // no coverage from the children: tap would merge their tsx-compiled line maps into ours (see test/docs/snippets.test.ts)
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', _TAPJS_PROCESSINFO_COVERAGE_: '0' },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const send = httpSender(`http://127.0.0.1:${port}`)
  await until(`instance ${name} listens`, async () => {
    if (proc.exitCode !== null) throw new Error(`instance ${name} exited with ${proc.exitCode}`)
    return await send('GET', '/health/live').then((r) => r.status === 200, () => false)
  }, { withinMs: 60_000, everyMs: 100 })
  return { name, send, proc }
}

async function stopInstance ({ proc }: Instance): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  proc.kill('SIGTERM')
  await exited
}

const redis = await fileRedis()
// one SESSION_SECRET for all, as behind a load balancer: a cookie signed by one instance is good on the others
const env = { REDIS_URL: redis.url, TRUST_PROXY: 'true', LOG_LEVEL: 'warn', CACHE_KEY_HASH_SECRET: 'shared-by-all-instances', SESSION_SECRET: 'one session secret shared by all three instances' }
const instances = await Promise.all(['a', 'b', 'c'].map(async (name) => await startInstance(name, env)))
t.teardown(async () => { await Promise.all(instances.map(stopInstance)) })
const [a, b, c] = instances as [Instance, Instance, Instance]
const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip })

t.test('rate limits are global and exact across the instances', async (t) => {
  // POST /login: 5 a minute per IP; 30 at once, spread over the three
  const posts = await Promise.all(Array.from({ length: 30 }, async (_, i) =>
    await (instances[i % 3] as Instance).send('POST', '/login', { userId: `limit-${i}` }, from('10.1.0.1'))))
  t.equal(posts.filter((r) => r.status === 201).length, 5, '5 of 30 signed in')
  t.equal(posts.filter((r) => r.status === 429).length, 25, 'the rest limited')
  // POST /authz/check: a bucket of 300 refilling 5 a second per IP; 360 spread
  // over the three: 300, plus what refilled while they ran, pass
  const started = Date.now()
  const checks = await Promise.all(Array.from({ length: 360 }, async (_, i) =>
    await (instances[i % 3] as Instance).send('POST', '/authz/check', { userId: 'bob', resource: 'accounts', action: 'read' }, from('10.1.0.2'))))
  const refilled = Math.floor((Date.now() - started) / 1000 * 5)
  const answered = checks.filter((r) => r.status === 200).length
  t.ok(answered >= 300 && answered <= 300 + refilled, `${answered} of 360 answered: 300 + at most the ${refilled} refilled meanwhile`)
  t.equal(answered + checks.filter((r) => r.status === 429).length, 360, 'the rest limited')
})

t.test('a revocation on one instance holds on every other', async (t) => {
  const as = (cookie: string | undefined): Record<string, string> => ({ ...from('10.2.0.1'), cookie: cookie ?? '' })
  const mySessions = async (i: Instance, cookie: string | undefined): Promise<number> => (await i.send('GET', '/me/sessions', undefined, as(cookie))).status
  // one session revoked by its handle on a
  const made = await a.send('POST', '/login', { userId: 'rita' }, from('10.2.0.1'))
  t.equal(made.status, 201)
  t.ok(made.cookie, 'a session cookie')
  for (const other of [b, c]) t.equal(await mySessions(other, made.cookie), 200, `${other.name} accepts the cookie`)
  const handle = ((await b.send('GET', '/me/sessions', undefined, as(made.cookie))).body.sessions as Array<{ id: string, current: boolean }>).find((s) => s.current)?.id
  t.equal((await a.send('DELETE', `/me/sessions/${handle ?? 'none'}`, undefined, as(made.cookie))).status, 204, 'revoked on a')
  for (const other of [a, b, c]) t.equal(await mySessions(other, made.cookie), 401, `${other.name} sees the revocation`)
  // log out everywhere on c: the sessions signed in on a and on b end everywhere
  const onA = await a.send('POST', '/login', { userId: 'rosa' }, from('10.2.0.2'))
  const onB = await b.send('POST', '/login', { userId: 'rosa' }, from('10.2.0.3'))
  for (const other of [a, b, c]) t.equal(await mySessions(other, onA.cookie), 200, `${other.name} accepts the cookie from a`)
  const out = await c.send('DELETE', '/me/sessions', undefined, as(onB.cookie))
  t.same(out.body, { deleted: 2 }, 'both revoked on c')
  for (const other of [a, b, c]) {
    t.equal(await mySessions(other, onA.cookie), 401, `${other.name} refuses the session from a`)
    t.equal(await mySessions(other, onB.cookie), 401, `${other.name} refuses the session from b`)
  }
})

t.test('an OAuth state is consumed once across the instances', async (t) => {
  for (let round = 0; round < 5; round++) {
    const started = await (instances[round % 3] as Instance).send('POST', '/oauth/demo/start', { userId: `oscar-${round}` }, from('10.3.0.1'))
    t.equal(started.status, 201)
    const state = started.body.state as string
    const callbacks = await Promise.all(instances.map(async (i) => await i.send('GET', `/oauth/demo/callback?code=c&state=${state}`, undefined, from('10.3.0.2'))))
    t.same(callbacks.map((r) => r.status).sort(), [200, 400, 400], `round ${round}: one instance consumed it, the others were refused`)
  }
})

t.test('a role change on one instance is seen by the next check on every other', async (t) => {
  const check = async (i: Instance): Promise<boolean> =>
    (await i.send('POST', '/authz/check', { userId: 'dave', resource: 'accounts', action: 'read' }, from('10.4.0.1'))).body.allowed as boolean
  // the others first: each now holds a cached deny
  t.same([await check(b), await check(c), await check(a)], [false, false, false], 'nobody grants dave before')
  t.equal((await a.send('PUT', '/users/dave/roles/user', undefined, from('10.4.0.2'))).status, 204, 'granted on a')
  t.same([await check(b), await check(c), await check(a)], [true, true, true], 'every instance grants at its next check')
  t.equal((await c.send('DELETE', '/users/dave/roles/user', undefined, from('10.4.0.2'))).status, 204, 'revoked on c')
  t.same([await check(a), await check(b), await check(c)], [false, false, false], 'every instance refuses at its next check')
  // a revoked role never comes back from a cache: ask each again
  t.same([await check(b), await check(a), await check(c)], [false, false, false])
})
