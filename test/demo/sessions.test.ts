import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { BACKENDS } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { KEY_A } from '../helpers/sessions.js'
import { CacheError } from '../../lib/result.js'

// The demo's sign-in and its /me/sessions routes over HTTP, with the session cookie carried like a browser does.

// a distinct client address per browser, so the per-IP limit on POST /login never trips these tests
let clients = 0
const nextAddress = (): string => `10.9.${Math.floor(++clients / 250)}.${clients % 250}`

class Browser {
  cookie: string | undefined
  readonly address = nextAddress()
  constructor (readonly app: FastifyInstance, readonly userAgent = 'tap-browser') {}

  async request (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> {
    const reply = await this.app.inject({
      method,
      url,
      payload,
      remoteAddress: this.address,
      headers: { 'user-agent': this.userAgent },
      cookies: this.cookie === undefined ? {} : { sessionId: this.cookie }
    })
    const set = reply.cookies.find((c) => c.name === 'sessionId')
    if (set !== undefined) this.cookie = set.value
    return reply
  }

  async login (userId: string): Promise<LightMyRequestResponse> {
    return await this.request('POST', '/login', { userId })
  }
}

for (const name of BACKENDS) {
  t.test(`session routes: ${name}`, async (t) => {
    const app = await demoApp(t, name)

    t.test('signing in sets an HttpOnly cookie; /me/sessions lists the caller\'s sessions, this one marked', async (t) => {
      const laptop = new Browser(app, 'Firefox')
      const login = await laptop.login('alice')
      t.equal(login.statusCode, 201)
      t.same(login.json(), { userId: 'alice' })
      const cookie = login.cookies.find((c) => c.name === 'sessionId')
      t.match(cookie, { httpOnly: true, sameSite: 'Lax', path: '/' })
      const phone = new Browser(app, 'Safari')
      await phone.login('alice')
      const list = await laptop.request('GET', '/me/sessions')
      t.equal(list.statusCode, 200)
      const body = list.json()
      t.equal(body.userId, 'alice')
      t.equal(body.sessions.length, 2)
      const mine = body.sessions.find((s: { current: boolean }) => s.current)
      t.match(mine, { current: true, userAgent: 'Firefox', ip: laptop.address, id: /^[\w-]{22}$/ })
      t.match(mine.signedInAt, /^\d{4}-\d\d-\d\dT/)
      t.match(body.sessions.find((s: { current: boolean }) => !s.current), { userAgent: 'Safari' })
      t.notMatch(JSON.stringify(body), decodeURIComponent(phone.cookie ?? '').split('.')[0] as string, 'no session id is handed out')
    })

    t.test('without a session, /me routes are 401', async (t) => {
      const stranger = new Browser(app)
      for (const [method, url] of [['GET', '/me/sessions'], ['DELETE', '/me/sessions'], ['DELETE', '/me/sessions/AAAAAAAAAAAAAAAAAAAAAA'], ['POST', '/logout']] as const) {
        const res = await stranger.request(method, url)
        t.equal(res.statusCode, 401, `${method} ${url}`)
        t.match(res.json(), { code: 'UNAUTHORIZED', detail: /POST \/login/ })
      }
      t.equal(stranger.cookie, undefined, 'no cookie for a visitor who never signs in')
    })

    t.test('DELETE /me/sessions/:id signs another device out, and only the caller\'s', async (t) => {
      const laptop = new Browser(app)
      const phone = new Browser(app)
      const mallory = new Browser(app)
      await laptop.login('bob')
      await phone.login('bob')
      await mallory.login('mallory')
      const list = (await laptop.request('GET', '/me/sessions')).json()
      const other = list.sessions.find((s: { current: boolean }) => !s.current).id as string
      t.equal((await mallory.request('DELETE', `/me/sessions/${other}`)).statusCode, 404, 'not mallory\'s to revoke')
      t.equal((await phone.request('GET', '/me/sessions')).statusCode, 200, 'phone still signed in')
      t.equal((await laptop.request('DELETE', `/me/sessions/${other}`)).statusCode, 204)
      t.equal((await phone.request('GET', '/me/sessions')).statusCode, 401, 'phone signed out')
      t.equal((await laptop.request('GET', '/me/sessions')).json().sessions.length, 1, 'laptop still in')
      t.equal((await laptop.request('DELETE', `/me/sessions/${other}`)).statusCode, 404, 'gone')
      t.equal((await laptop.request('DELETE', '/me/sessions/not-a-handle')).statusCode, 400)
    })

    t.test('DELETE /me/sessions logs out everywhere, this browser included', async (t) => {
      const browsers = [new Browser(app), new Browser(app), new Browser(app)]
      for (const b of browsers) await b.login('carol')
      const out = await browsers[0]?.request('DELETE', '/me/sessions')
      t.same(out?.json(), { deleted: 3 })
      for (const b of browsers) t.equal((await b.request('GET', '/me/sessions')).statusCode, 401)
      t.same(await app.sessionCache.getUserSessionIds('carol'), { ok: true, value: [] })
    })

    t.test('logout ends this session only; a new login is a new session', async (t) => {
      const laptop = new Browser(app)
      const phone = new Browser(app)
      await laptop.login('dave')
      await phone.login('dave')
      const before = laptop.cookie
      t.equal((await laptop.request('POST', '/logout')).statusCode, 204)
      t.equal((await laptop.request('GET', '/me/sessions')).statusCode, 401)
      t.equal((await phone.request('GET', '/me/sessions')).json().sessions.length, 1)
      await laptop.login('dave')
      t.not(laptop.cookie, before)
    })

    t.test('bodies are checked strictly', async (t) => {
      const b = new Browser(app)
      for (const body of [{}, { userId: '' }, { userId: 5 }, { userId: 'x', admin: true }]) {
        t.equal((await b.request('POST', '/login', body)).statusCode, 400, JSON.stringify(body))
      }
    })
  })
}

t.test('with encryption keys in the env, sessions are sealed at rest', async (t) => {
  const app = await demoApp(t, 'memory', { SESSION_ENCRYPTION_KEYS: `k1:${KEY_A}` })
  t.equal(app.sessionCache.encrypted, true)
  const b = new Browser(app, 'secret-agent')
  await b.login('eve')
  const ids = await app.sessionCache.getUserSessionIds('eve')
  const stored = await app.cache.store.get((app.sessionCache.keyOf(ids.ok ? ids.value[0] as string : '') as { value: string }).value)
  t.match(stored.ok && stored.value, /^enc1\.k1\./)
  t.notMatch(stored.ok && stored.value, /secret-agent/)
  t.match((await b.request('GET', '/me/sessions')).json().sessions, [{ userAgent: 'secret-agent' }])
})

t.test('a SESSION_SECRET shared by two instances: a cookie from one is good on the other', async (t) => {
  const env = { SESSION_SECRET: 'a shared secret of thirty-two characters or more' }
  const one = await demoApp(t, 'redis', env)
  const two = await demoApp(t, 'redis', env)
  const b = new Browser(one)
  await b.login('gina')
  const onTwo = await two.inject({ method: 'GET', url: '/me/sessions', cookies: { sessionId: b.cookie as string } })
  t.equal(onTwo.json().userId, 'gina')
})

t.test('a listed session whose value cannot be read is listed without details, and can be revoked', async (t) => {
  const app = await demoApp(t, 'memory')
  const laptop = new Browser(app)
  const phone = new Browser(app)
  await laptop.login('ivy')
  await phone.login('ivy')
  const ids = await app.sessionCache.getUserSessionIds('ivy')
  const phoneId = (ids.ok ? ids.value : []).find((id) => decodeURIComponent(phone.cookie ?? '').startsWith(id + '.')) as string
  await app.cache.store.set((app.sessionCache.keyOf(phoneId) as { value: string }).value, 'not a session', { ttl: 600 })
  const list = (await laptop.request('GET', '/me/sessions')).json()
  const unreadable = list.sessions.find((s: { current: boolean }) => !s.current)
  t.same({ ...unreadable, id: 'x' }, { id: 'x', current: false, signedInAt: null, ip: null, userAgent: null })
  t.equal((await laptop.request('DELETE', `/me/sessions/${unreadable.id as string}`)).statusCode, 204)
  const left = await app.sessionCache.getUserSessionIds('ivy')
  t.notOk(left.ok && left.value.includes(phoneId), 'out of the index though its value was unreadable')
  t.equal(left.ok && left.value.length, 1, 'the laptop\'s own session stays')
})

t.test('the cache failing after the session was read: 503 from the handlers too', async (t) => {
  const app = await demoApp(t, 'memory')
  const b = new Browser(app)
  await b.login('judy')
  const list = (await b.request('GET', '/me/sessions')).json()
  const handle = list.sessions[0].id as string
  const faults = faultyStore(t, app.cache.store).fail('UNAVAILABLE', { only: ['runScript'] })
  for (const [method, url] of [['GET', '/me/sessions'], ['DELETE', `/me/sessions/${handle}`], ['DELETE', '/me/sessions']] as const) {
    t.equal((await b.request(method, url)).statusCode, 503, `${method} ${url}: listing or revoking failed`)
  }
  faults.heal()
  const remove = app.sessionCache.delete
  t.teardown(() => { app.sessionCache.delete = remove })
  app.sessionCache.delete = async () => ({ ok: false, error: new CacheError('TIMEOUT', 'on purpose') })
  t.equal((await b.request('DELETE', `/me/sessions/${handle}`)).statusCode, 503, 'the revocation itself failed')
})

t.test('with the store failing: 503 with a fixed sentence, never a 500', async (t) => {
  const app = await demoApp(t, 'memory')
  const b = new Browser(app)
  await b.login('frank')
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  for (const [method, url] of [['GET', '/me/sessions'], ['DELETE', '/me/sessions'], ['POST', '/login']] as const) {
    const res = await b.request(method, url, method === 'POST' ? { userId: 'frank' } : undefined)
    t.equal(res.statusCode, 503, `${method} ${url}`)
    t.same(res.json(), {
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'The session store is unavailable; try again later.',
      instance: url,
      code: 'UNAVAILABLE'
    }, 'no Redis client text in the body')
  }
})
