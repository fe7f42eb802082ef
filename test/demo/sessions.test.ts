import t from 'tap'
import { sleep } from '../../harness/wait.js'
import { BACKENDS } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { KEY_A } from '../helpers/sessions.js'

// The demo's session routes over HTTP (app.inject), on both backends.

// a distinct client address per login, so a per-IP limit on POST /sessions never trips these tests
let clients = 0
const nextAddress = (): string => `10.9.${Math.floor(++clients / 250)}.${clients % 250}`

for (const name of BACKENDS) {
  t.test(`session routes: ${name}`, async (t) => {
    const app = await demoApp(t, name)
    const login = async (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      await app.inject({ method: 'POST', url: '/sessions', payload: body, headers, remoteAddress: nextAddress() })
    const MALFORMED = 'not-a-session-id'
    const unknownId = (): string => (app.sessionCache.newId('nobody') as { value: string }).value

    t.test('POST /sessions creates, GET /sessions/:id reads', async (t) => {
      const expiresAt = new Date(Date.now() + 3600_000).toISOString()
      const created = await login({ userId: 'alice', ipAddress: '198.51.100.1', deviceInfo: { os: 'Linux' }, expiresAt }, { 'user-agent': 'tap-test' })
      t.equal(created.statusCode, 201)
      const { id, expiresAt: echoed } = created.json()
      t.match(id, /^[\w-]{22}\.[\w-]+$/)
      t.equal(echoed, expiresAt)
      const read = await app.inject({ method: 'GET', url: `/sessions/${id}` })
      t.equal(read.statusCode, 200)
      const s = read.json()
      t.equal(s.id, id)
      t.equal(s.userId, 'alice')
      t.equal(s.ipAddress, '198.51.100.1')
      t.equal(s.userAgent, 'tap-test')
      t.same(s.deviceInfo, { os: 'Linux' })
      t.equal(s.expiresAt, expiresAt, 'dates are ISO 8601 strings')
      t.match(s.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      t.equal(s.revokedAt, null)

      const plain = await login({ userId: 'alice', userAgent: 'from-body' })
      t.equal(plain.statusCode, 201)
      t.equal(plain.json().expiresAt, null)
      const defaults = (await app.inject({ method: 'GET', url: `/sessions/${plain.json().id as string}` })).json()
      t.match(defaults.ipAddress, /^10\.9\./, 'the request address by default')
      t.equal(defaults.userAgent, 'from-body')
    })

    t.test('unknown ids are 404, malformed ones 400, each with a message', async (t) => {
      for (const [method, url] of [['GET', '/sessions/%s'], ['DELETE', '/sessions/%s'], ['PATCH', '/sessions/%s/activity']] as const) {
        const unknown = await app.inject({ method, url: url.replace('%s', unknownId()) })
        t.equal(unknown.statusCode, 404, `${method} unknown`)
        t.match(unknown.headers['content-type'], /^application\/problem\+json/)
        t.match(unknown.json(), { status: 404, code: 'NOT_FOUND', detail: 'no such session' })
        const bad = await app.inject({ method, url: url.replace('%s', MALFORMED) })
        t.equal(bad.statusCode, 400, `${method} malformed`)
        t.match(bad.json(), { status: 400, code: 'INVALID_ARGUMENT', detail: /malformed session id/ })
      }
    })

    t.test('bad login bodies are 400', async (t) => {
      const missing = await login({})
      t.equal(missing.statusCode, 400)
      t.match(missing.json().detail, /userId/)
      const past = await login({ userId: 'alice', expiresAt: new Date(Date.now() - 60_000).toISOString() })
      t.equal(past.statusCode, 400)
      t.match(past.json(), { code: 'INVALID_ARGUMENT', detail: /expiresAt is in the past/ })
      const badDate = await login({ userId: 'alice', expiresAt: 'tomorrow' })
      t.equal(badDate.statusCode, 400)
    })

    t.test('PATCH /sessions/:id/activity touches', async (t) => {
      const { id } = (await login({ userId: 'bob' })).json()
      const before = (await app.inject({ method: 'GET', url: `/sessions/${id as string}` })).json()
      await sleep(2) // so the login's activity time is strictly older than the touch
      const touchedAt = Date.now()
      const touched = await app.inject({ method: 'PATCH', url: `/sessions/${id as string}/activity`, remoteAddress: '192.0.2.77' })
      t.equal(touched.statusCode, 204)
      const after = (await app.inject({ method: 'GET', url: `/sessions/${id as string}` })).json()
      t.equal(after.lastIpAddress, '192.0.2.77', 'the request address')
      t.equal(after.ipAddress, before.ipAddress, 'the login address kept')
      t.ok(Date.parse(after.lastActivityAt) >= touchedAt, 'the activity time is the touch\'s')
    })

    t.test('DELETE /sessions/:id: 204, then 404', async (t) => {
      const { id } = (await login({ userId: 'carol' })).json()
      t.equal((await app.inject({ method: 'DELETE', url: `/sessions/${id as string}` })).statusCode, 204)
      t.equal((await app.inject({ method: 'GET', url: `/sessions/${id as string}` })).statusCode, 404)
      t.equal((await app.inject({ method: 'DELETE', url: `/sessions/${id as string}` })).statusCode, 404)
    })

    t.test('a user\'s sessions: list, and log out everywhere but here', async (t) => {
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await login({ userId: 'dave@example.com' })).json().id)
      const list = await app.inject({ method: 'GET', url: '/users/dave@example.com/sessions' })
      t.equal(list.statusCode, 200)
      t.same([...list.json().sessionIds].sort(), [...ids].sort())
      const badExcept = await app.inject({ method: 'DELETE', url: `/users/dave@example.com/sessions?except=${MALFORMED}` })
      t.equal(badExcept.statusCode, 400)
      const out = await app.inject({ method: 'DELETE', url: `/users/dave@example.com/sessions?except=${ids[0] as string}` })
      t.same(out.json(), { deleted: 2 })
      t.same((await app.inject({ method: 'GET', url: '/users/dave@example.com/sessions' })).json(), { sessionIds: [ids[0]] })
      t.same((await app.inject({ method: 'DELETE', url: '/users/dave@example.com/sessions' })).json(), { deleted: 1 })
      t.same((await app.inject({ method: 'GET', url: '/users/nobody/sessions' })).json(), { sessionIds: [] })
    })
  })
}

t.test('with encryption keys in the env, sessions are sealed at rest', async (t) => {
  const app = await demoApp(t, 'memory', { SESSION_ENCRYPTION_KEYS: `k1:${KEY_A}` })
  t.equal(app.sessionCache.encrypted, true)
  const { id } = (await app.inject({ method: 'POST', url: '/sessions', payload: { userId: 'eve', userAgent: 'secret-agent' }, remoteAddress: nextAddress() })).json()
  const stored = await app.cache.store.get((app.sessionCache.keyOf(id) as { value: string }).value)
  t.match(stored.ok && stored.value, /^enc1\.k1\./)
  t.equal((await app.inject({ method: 'GET', url: `/sessions/${id as string}` })).json().userAgent, 'secret-agent')
})

t.test('with the store failing: 503 with a fixed sentence, never a 500', async (t) => {
  const app = await demoApp(t, 'memory')
  const { id } = (await app.inject({ method: 'POST', url: '/sessions', payload: { userId: 'frank' }, remoteAddress: nextAddress() })).json()
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  for (const [method, url] of [['GET', `/sessions/${id as string}`], ['DELETE', `/sessions/${id as string}`], ['GET', '/users/frank/sessions'], ['DELETE', '/users/frank/sessions'], ['PATCH', `/sessions/${id as string}/activity`]] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.same(res.json(), {
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The session cache is unavailable; try again later.',
      instance: url,
      code: 'UNAVAILABLE'
    }, 'no Redis client text in the body')
  }
  const login = await app.inject({ method: 'POST', url: '/sessions', payload: { userId: 'frank' }, remoteAddress: nextAddress() })
  t.equal(login.statusCode, 503)
})
