import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { cachekitApp } from '../helpers/apps.js'
import { faultyStore } from '../helpers/faulty-store.js'
import type { FastifySessionStoreOptions } from '../../plugins/session-cache.js'

// @fastify/session over our store, driven like browsers: real signed cookies over inject, on every backend.

declare module 'fastify' {
  interface Session {
    user?: string
    cart?: Array<{ sku: string, addedAt: Date }>
    visits?: number
  }
}

const SECRET = 'a secret of at least thirty-two characters'

/** A browser: keeps the session cookie it is given and sends it back. */
class Browser {
  cookie: string | undefined
  constructor (readonly app: FastifyInstance) {}

  async request (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> {
    const reply = await this.app.inject({ method, url, payload, cookies: this.cookie === undefined ? {} : { sessionId: this.cookie } })
    const set = reply.cookies.find((c) => c.name === 'sessionId')
    if (set !== undefined) this.cookie = set.value
    return reply
  }

  /** The session id inside the signed cookie. */
  get sessionId (): string {
    return decodeURIComponent(this.cookie ?? '').split('.').slice(0, -1).join('.')
  }
}

async function sessionApp (t: Test, backend: 'memory' | 'redis' | 'cluster', options: { store?: FastifySessionStoreOptions, session?: Record<string, unknown> } = {}) {
  const app = await cachekitApp(t, backend, { sessionCache: { ttl: 3600 } })
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: SECRET,
    cookie: { secure: false, maxAge: 600_000 },
    store: app.sessionCache.fastifySessionStore({ userIdOf: (s) => s.user ?? null, ...options.store }),
    ...options.session
  })
  let gate: Promise<void> = Promise.resolve()
  let entered = (): void => {}
  app.post<{ Body: { user: string } }>('/login', async (request) => {
    await request.session.regenerate()
    request.session.user = request.body.user
    return { user: request.body.user }
  })
  app.get('/me', async (request, reply) => request.session.user === undefined ? await reply.code(401).send({ anonymous: true }) : { user: request.session.user })
  app.post('/cart', async (request) => {
    request.session.cart = [...request.session.cart ?? [], { sku: `sku-${(request.session.cart ?? []).length}`, addedAt: new Date(1_700_000_000_123) }]
    return { items: request.session.cart.length }
  })
  app.get('/cart', async (request) => ({
    cart: request.session.cart ?? [],
    datesAreDates: (request.session.cart ?? []).every((item) => item.addedAt instanceof Date && item.addedAt.getTime() === 1_700_000_000_123)
  }))
  app.post('/logout', async (request) => { await request.session.destroy(); return { out: true } })
  // holds the request until the test opens the gate, then changes the session so that it is saved
  app.post('/slow', async (request) => {
    entered()
    await gate
    request.session.visits = (request.session.visits ?? 0) + 1
    return { visits: request.session.visits }
  })
  await app.ready()
  const hold = (): { inside: Promise<void>, open: () => void } => {
    let open = (): void => {}
    gate = new Promise((resolve) => { open = resolve })
    const inside = new Promise<void>((resolve) => { entered = resolve })
    return { inside, open }
  }
  return { app, hold }
}

for (const backend of ['memory', 'redis', 'cluster'] as const) {
  t.test(`@fastify/session with our store: ${backend}`, async (t) => {
    const { app, hold } = await sessionApp(t, backend)

    t.test('a visitor gets a session before login, stored under no user', async (t) => {
      const browser = new Browser(app)
      t.equal((await browser.request('GET', '/me')).statusCode, 401)
      t.ok(browser.cookie, 'a cookie was set (saveUninitialized)')
      const stored = await app.sessionCache.fastifySessionStore().get(browser.sessionId)
      t.ok(stored, 'stored before login')
      t.equal((await browser.request('GET', '/me')).statusCode, 401, 'the same anonymous session, no user')
    })

    t.test('two browsers of one user: deleteAllForUser logs both out on their next request', async (t) => {
      const laptop = new Browser(app)
      const phone = new Browser(app)
      const other = new Browser(app)
      await laptop.request('POST', '/login', { user: 'alice' })
      await phone.request('POST', '/login', { user: 'alice' })
      await other.request('POST', '/login', { user: 'bob' })
      t.same((await laptop.request('GET', '/me')).json(), { user: 'alice' })
      t.same((await phone.request('GET', '/me')).json(), { user: 'alice' })
      const ids = await app.sessionCache.getUserSessionIds('alice')
      t.same(ids.ok && [...ids.value].sort(), [laptop.sessionId, phone.sessionId].sort(), 'both sessions in her index')
      t.same(await app.sessionCache.deleteAllForUser('alice'), { ok: true, value: 2 })
      t.equal((await laptop.request('GET', '/me')).statusCode, 401, 'laptop logged out')
      t.equal((await phone.request('GET', '/me')).statusCode, 401, 'phone logged out')
      t.same((await other.request('GET', '/me')).json(), { user: 'bob' }, 'another user untouched')
      t.same(await app.sessionCache.getUserSessionIds('alice'), { ok: true, value: [] })
    })

    t.test('a session revoked while a request holding it runs is not brought back by its save', async (t) => {
      const browser = new Browser(app)
      await browser.request('POST', '/login', { user: 'carol' })
      const { inside, open } = hold()
      const running = browser.request('POST', '/slow')
      await inside
      t.same(await app.sessionCache.deleteAllForUser('carol'), { ok: true, value: 1 })
      open()
      const answered = await running
      t.equal(answered.statusCode, 200, 'the request itself answers as it would have')
      t.equal((await browser.request('GET', '/me')).statusCode, 401, 'its next request is logged out')
      t.same(await app.sessionCache.getUserSessionIds('carol'), { ok: true, value: [] })
    })

    t.test('session data of any shape round-trips, Dates as Dates', async (t) => {
      const browser = new Browser(app)
      await browser.request('POST', '/login', { user: 'dan' })
      await browser.request('POST', '/cart')
      await browser.request('POST', '/cart')
      const cart = (await browser.request('GET', '/cart')).json()
      t.equal(cart.cart.length, 2)
      t.equal(cart.datesAreDates, true)
    })

    t.test('regenerate at login revokes the anonymous session; logout destroys', async (t) => {
      const browser = new Browser(app)
      await browser.request('GET', '/me')
      const anonymous = browser.sessionId
      await browser.request('POST', '/login', { user: 'erin' })
      t.not(browser.sessionId, anonymous, 'a new id at login')
      const store = app.sessionCache.fastifySessionStore()
      t.equal(await store.get(anonymous), null, 'the old one is gone')
      await browser.request('POST', '/logout')
      t.equal((await browser.request('GET', '/me')).statusCode, 401)
      t.same(await app.sessionCache.getUserSessionIds('erin'), { ok: true, value: [] })
    })

    t.test('the stored session lives until its cookie expires, and at most 1% of that longer', async (t) => {
      const browser = new Browser(app)
      await browser.request('POST', '/login', { user: 'fay' })
      const key = app.sessionCache.keyOf(browser.sessionId)
      const ttl = await app.cache.store.ttl(key.ok ? key.value : '')
      t.ok(ttl.ok && ttl.value !== null && ttl.value > 600 && ttl.value <= 606, `ttl ${JSON.stringify(ttl)}: the cookie's maxAge (600 s), and the headroom`)
    })
  })
}

t.test('store API: promises or callbacks, touch moves the expiry, express-style cookies', async (t) => {
  const app = await cachekitApp(t, 'memory', { sessionCache: { ttl: 3600 } })
  await app.ready()
  const store = app.sessionCache.fastifySessionStore()
  const expires = new Date(Date.now() + 60_000)
  await store.set('sid-1', { userId: 'gus', cookie: { expires, httpOnly: true, path: '/' }, prefs: { at: new Date(5) } })
  t.same(await store.get('sid-1'), { userId: 'gus', cookie: { expires: expires.toISOString(), httpOnly: true, path: '/' }, prefs: { at: new Date(5) } })
  t.same(await app.sessionCache.getUserSessionIds('gus'), { ok: true, value: ['sid-1'] }, 'the default userIdOf reads userId')
  const later = new Date(Date.now() + 7200_000)
  await store.touch('sid-1', { cookie: { expires: later } })
  const ttl = await app.cache.store.ttl((app.sessionCache.keyOf('sid-1') as { value: string }).value)
  t.ok(ttl.ok && ttl.value !== null && ttl.value > 7100, 'touch moved the expiry to the cookie\'s')
  await store.touch('sid-new', { cookie: { maxAge: 1000 } })
  t.ok(await store.get('sid-new'), 'touching a session that is not there stores it')
  await store.set('sid-2', { cookie: {} })
  const open = await app.cache.store.ttl((app.sessionCache.keyOf('sid-2') as { value: string }).value)
  t.ok(open.ok && open.value !== null && open.value > 3500 && open.value <= 3600, 'a cookie without expiry: the cache ttl')
  await new Promise<void>((resolve, reject) => { store.destroy('sid-1', (err?: unknown) => { if (err !== null && err !== undefined) reject(new Error(String(err))); else resolve() }) })
  const got = await new Promise((resolve) => { store.get('sid-1', (err, session) => { resolve({ err, session }) }) })
  t.same(got, { err: null, session: null })
  await store.set('sid-1', { userId: 'gus', cookie: {} })
  t.equal(await store.get('sid-1'), null, 'a save after destroy is refused quietly')
  await t.rejects(store.set('sid-3', { fn: () => 1, cookie: {} }) as Promise<unknown>, /data\.fn: a function/)
  await t.rejects(store.get('') as Promise<unknown>, { code: 'INVALID_ARGUMENT' })

  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  const failed = await new Promise((resolve) => { store.set('sid-4', { cookie: {} }, (err?: unknown) => { resolve(err) }) })
  t.match(failed, { code: 'UNAVAILABLE' }, 'a failure reaches @fastify/session as an error')
})

t.test('a store failure answers 500 through @fastify/session', async (t) => {
  const { app } = await sessionApp(t, 'memory')
  const browser = new Browser(app)
  await browser.request('POST', '/login', { user: 'hal' })
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  t.equal((await browser.request('GET', '/me')).statusCode, 500)
})
