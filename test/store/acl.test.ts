import { readdirSync, readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { REDIS_COMMANDS, redisAclRules, redisChannels, redisCommands, type RedisCommandGroup } from '../../lib/store/redis-acl.js'
import { cachekitApp } from '../helpers/apps.js'
import { fileRedis } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'

// The minimal ACL: each plugin works as a Redis user allowed only its own
// commands (lib/store/redis-acl.ts) on keys under its prefix, and the list
// matches what the code sends.

const root = new URL('../../', import.meta.url)

t.test('the command list matches the code: every Lua script and every command the Redis store sends', async (t) => {
  const admin = (await fileRedis()).client()
  const known = new Set((await admin.call('COMMAND', 'LIST') as string[]).map((c) => c.toLowerCase()))
  const listed = new Set(redisCommands())

  const inLua = new Set<string>()
  for (const file of readdirSync(new URL('lua/', root))) {
    for (const [, command] of readFileSync(new URL(`lua/${file}`, root), 'utf8').matchAll(/redis\.p?call\(\s*'([A-Za-z]+)'/g)) inLua.add((command as string).toLowerCase())
  }
  t.ok(inLua.size >= 5, 'the scripts were read')
  t.same([...inLua].filter((c) => !listed.has(c)), [], 'every command a script runs is listed')

  const source = readFileSync(new URL('lib/store/redis-store.ts', root), 'utf8')
  const sent = new Set<string>()
  for (const [, method] of source.matchAll(/\b(?:client|node|c|pipeline|p)\.([a-z]+)\(/g)) if (known.has(method as string)) sent.add(method as string)
  if (/\.script\('LOAD'/.test(source)) sent.add('script|load')
  sent.delete('script')
  sent.delete('exec') // a pipeline's exec sends what it holds; it is not MULTI/EXEC
  t.ok(sent.has('evalsha') && sent.has('get'), 'the store was read')
  t.same([...sent].filter((c) => !listed.has(c)).sort(), [], 'every command the store sends is listed')

  // cache-aside, namespaces and the near cache (lib/cache/): scripts through the store, and the near cache's own
  // two connections (named, one tracking its reads, the other subscribed to the invalidations and PINGed)
  const inCache = new Set<string>()
  for (const file of readdirSync(new URL('lib/cache/', root))) {
    const code = readFileSync(new URL(`lib/cache/${file}`, root), 'utf8')
    if (/\.runScript\(/.test(code)) { inCache.add('evalsha'); inCache.add('script|load') }
    if (/\bconnectionName:/.test(code)) inCache.add('client|setname')
    for (const [, sub] of code.matchAll(/\.client\('([A-Za-z]+)'/g)) inCache.add(`client|${(sub as string).toLowerCase()}`)
    for (const [, method] of code.matchAll(/#(?:data|invalidations)\.([a-z]+)\(/g)) if (known.has(method as string) && method !== 'client') inCache.add(method as string)
  }
  t.ok(inCache.has('client|tracking') && inCache.has('subscribe') && inCache.has('mget') && inCache.has('evalsha'), 'lib/cache/ was read')
  const cacheListed = new Set(redisCommands(['cache']))
  t.same([...inCache].filter((c) => !cacheListed.has(c)).sort(), [], 'every command cache-aside, namespaces and the near cache send is in the cache group')
  t.same(redisChannels(['cache']), ['__redis__:invalidate'], 'the near cache\'s channel is allowed')

  // the authz policy watcher (lib/authz/policy-watcher.ts): publishes edits, and subscribes on a connection of its own
  const watcher = readFileSync(new URL('lib/authz/policy-watcher.ts', root), 'utf8')
  const inAuthz = new Set([...watcher.matchAll(/#(?:client|subscriber)\.(publish|subscribe)\(/g)].map(([, method]) => method as string))
  t.same([...inAuthz].sort(), ['publish', 'subscribe'], 'the policy watcher was read')
  t.same([...inAuthz].filter((c) => !new Set(redisCommands(['authz'])).has(c)), [], 'the watcher\'s commands are in the authz group')
  t.same(redisChannels(['authz']), ['<prefix>:authz:{authz-policy}:v'], 'the watcher\'s channel is allowed, under the prefix')

  const used = new Set([...inLua, ...sent, ...inCache, ...inAuthz, 'info'])
  t.same([...listed].filter((c) => !used.has(c)), [], 'nothing listed that the code never sends')
})

/** A user restricted to `groups` on keys under `prefix`; its URL. */
async function restrictedUser (name: string, prefix: string, groups: readonly RedisCommandGroup[]): Promise<string> {
  const redis = await fileRedis()
  await redis.client().call('ACL', 'SETUSER', name, 'reset', 'on', '>pw-' + name, ...redisAclRules(prefix, groups))
  return `redis://${name}:pw-${name}@127.0.0.1:${redis.port}`
}

const ok = (t: Test, r: { ok: boolean }, what: string): void => { t.equal(r.ok, true, what) }

/** Each plugin on a user that may run only the connection's and that plugin's commands. */
const PLUGINS: Record<Exclude<RedisCommandGroup, 'connection'>, (t: Test, redisUrl: string) => Promise<void>> = {
  cache: async (t, redisUrl) => {
    const app = await cachekitApp(t, 'memory', { cache: { redisUrl, prefix: 'acl-cache' } })
    const c = app.cache
    ok(t, await c.set('n:a', '1', { ttl: 60 }), 'set')
    t.same(await c.get('n:a'), { ok: true, value: '1' }, 'get')
    ok(t, await c.setMany([['n:b', '2'], ['n:c', '3']], { ttl: 60 }), 'setMany')
    t.same(await c.getMany(['n:a', 'n:b', 'n:x']), { ok: true, value: ['1', '2', null] }, 'getMany')
    ok(t, await c.exists('n:a'), 'exists')
    ok(t, await c.expire('n:a', 30), 'expire')
    ok(t, await c.ttl('n:a'), 'ttl')
    t.same(await c.increment('n:i', 2), { ok: true, value: 2 }, 'increment')
    ok(t, await c.decrement('n:i'), 'decrement')
    t.same(await c.getDel('n:b'), { ok: true, value: '2' }, 'getDel')
    ok(t, await c.delete('n:c'), 'delete')
    ok(t, await c.deletePattern('n:*'), 'deletePattern')
    ok(t, await c.ping(), 'ping')
    t.equal((await c.health()).status, 'up', 'health')
    // cache-aside with the load lock (script cache-claim, then cache-release)
    t.same(await c.getOrSet('aside:1', () => 'loaded', { ttl: 60, lock: true }), { ok: true, value: 'loaded' }, 'getOrSet with the lock')
    t.same(await c.getOrSet('aside:1', () => 'again', { ttl: 60, lock: true }), { ok: true, value: 'loaded' }, 'then a hit')
    // a namespace with tags, and the near cache: tracking, the invalidation channel, the heartbeat
    const ns = c.namespace<string>('acl-ns', { ttl: 60, l1: true })
    t.equal(await ns.l1?.ready(), true, 'the near cache turns tracking on')
    ok(t, await ns.set('k', 'v', { tags: ['t'] }), 'namespace set')
    t.same(await ns.get('k'), { ok: true, value: 'v' }, 'namespace get')
    t.same(await ns.get('k'), { ok: true, value: 'v' }, 'namespace get (from L1)')
    ok(t, await ns.invalidateTags(['t']), 'invalidateTags')
    t.same(await ns.get('k'), { ok: true, value: null }, 'a miss after invalidateTags')
    ok(t, await ns.invalidateAll(), 'invalidateAll')
    t.equal(app.cacheMetrics.stats('acl-ns').errors, 0, 'no store error behind the namespace\'s answers')
  },
  sessionCache: async (t, redisUrl) => {
    const app = await cachekitApp(t, 'memory', { cache: { redisUrl, prefix: 'acl-sess' }, sessionCache: {} })
    await app.ready()
    const s = app.sessionCache
    const created = await s.create({ userId: 'alice', ipAddress: '192.0.2.1' })
    ok(t, created, 'create')
    const id = created.ok ? created.value.id : ''
    t.equal((await s.get(id)).ok, true, 'get')
    ok(t, await s.exists(id), 'exists')
    ok(t, await s.touch(id), 'touch')
    t.same(await s.getUserSessionIds('alice'), { ok: true, value: [id] }, 'list')
    ok(t, await s.delete(id), 'delete')
    ok(t, await s.create({ userId: 'alice' }), 'create again')
    // the @fastify/session store: a first save (the script), then a save of the session it knows (a plain SET … XX)
    const store = s.fastifySessionStore()
    const cookie = { expires: new Date(Date.now() + 600_000).toISOString() }
    await store.set('acl-sid', { userId: 'alice', cookie })
    await store.set('acl-sid', { userId: 'alice', visits: 1, cookie })
    t.match(await store.get('acl-sid'), { visits: 1 }, 'the store: a save, then a save that replaces the value')
    t.same(await s.deleteAllForUser('alice'), { ok: true, value: 2 }, 'log out everywhere')
  },
  authz: async (t, redisUrl) => {
    const app = await cachekitApp(t, 'memory', { cache: { redisUrl, prefix: 'acl-authz' }, authz: { decider: async (subject) => subject === 'bob' } })
    await app.ready()
    t.equal(await app.authz.check('bob', 'doc', 'read'), true, 'check (decided, written)')
    t.equal(await app.authz.check('bob', 'doc', 'read'), true, 'check (cached)')
    t.equal(await app.authz.check('eve', 'doc', 'read'), false, 'a deny')
    t.equal(app.cacheMetrics.stats('authz').errors, 0, 'no store error behind those answers')
    ok(t, await app.authz.invalidateSubject('bob'), 'invalidate a subject')
    ok(t, await app.authz.invalidateAll(), 'invalidate all')
  },
  oauthState: async (t, redisUrl) => {
    const app = await cachekitApp(t, 'memory', { cache: { redisUrl, prefix: 'acl-oauth' }, oauthState: {} })
    await app.ready()
    const created = await app.oauthState.create({ userId: 'alice', provider: 'demo' })
    ok(t, created, 'create')
    const consumed = await app.oauthState.consume(created.ok ? created.value.state : '', { provider: 'demo' })
    t.match(consumed, { ok: true, value: { userId: 'alice' } }, 'consume')
  },
  rateLimit: async (t, redisUrl) => {
    const app = await cachekitApp(t, 'memory', { cache: { redisUrl, prefix: 'acl-rl' }, rateLimit: { global: false } })
    await app.ready()
    const policy = { capacity: 2, refillPerSecond: 1, onStoreError: 'closed' } as const
    const taken = [await app.tokenBucket.take('k', policy), await app.tokenBucket.take('k', policy), await app.tokenBucket.take('k', policy)]
    t.same(taken.map((r) => r.ok && r.value.allowed), [true, true, false], 'take, decided in Redis')
    ok(t, await app.tokenBucket.reset('k'), 'reset')
  }
}

for (const [group, exercise] of Object.entries(PLUGINS)) {
  t.test(`${group} runs as a user allowed only its commands`, async (t) => {
    const prefix = `acl-${{ cache: 'cache', sessionCache: 'sess', authz: 'authz', oauthState: 'oauth', rateLimit: 'rl' }[group] as string}`
    await exercise(t, await restrictedUser(`acl-${group}`, prefix, [group as RedisCommandGroup]))
  })
}

t.test('the restricted user is refused anything else: other commands, other keys', async (t) => {
  const redis = await fileRedis()
  const url = await restrictedUser('acl-all', 'cachekit', Object.keys(REDIS_COMMANDS) as RedisCommandGroup[])
  const { Redis } = await import('ioredis')
  const user = new Redis(url, { maxRetriesPerRequest: 0 })
  t.teardown(() => { user.disconnect() })
  await t.rejects(user.flushall(), /NOPERM/, 'FLUSHALL')
  await t.rejects(user.keys('*'), /NOPERM/, 'KEYS')
  await t.rejects(user.call('CONFIG', 'GET', '*'), /NOPERM/, 'CONFIG')
  await t.rejects(user.call('SCRIPT', 'FLUSH'), /NOPERM/, 'SCRIPT FLUSH')
  await t.rejects(user.eval('return 1', 0), /NOPERM/, 'EVAL of a script of its own')
  await t.rejects(user.get('other:key'), /NOPERM/, 'a key outside its prefix')
  t.equal(await user.set('cachekit:x', '1'), 'OK', 'its own keys')
  t.ok(redis.port > 0)
})

t.test('the demo serves every route family as that user', async (t) => {
  const redis = await fileRedis()
  const url = await restrictedUser('acl-demo', 'cachekit', Object.keys(REDIS_COMMANDS) as RedisCommandGroup[])
  const app: FastifyInstance = await demoApp(t, redis, { REDIS_URL: url, CACHE_KEY_HASH_SECRET: 'acl-test-secret-acl-test-secret' })
  const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'alice' } })
  t.equal(login.statusCode, 201)
  const cookies = { sessionId: login.cookies.find((c) => c.name === 'sessionId')?.value ?? '' }
  t.equal((await app.inject({ url: '/me/sessions', cookies })).json().sessions.length, 1)
  t.same((await app.inject({ method: 'DELETE', url: '/me/sessions', cookies })).json(), { deleted: 1 }, 'log out everywhere')
  t.equal((await app.inject({ url: '/me/sessions', cookies })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/authz/check', payload: { userId: 'bob', resource: 'accounts', action: 'read' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'PUT', url: '/users/carol/roles/user' })).statusCode, 204)
  const start = await app.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: 'alice' } })
  t.equal(start.statusCode, 201)
  t.equal((await app.inject(`/oauth/demo/callback?code=c&state=${start.json().state as string}`)).statusCode, 200)
  t.match((await app.inject('/health')).json(), { status: 'healthy' })
  t.match((await app.inject('/health/ready')).json(), { status: 'ready' })
  t.equal((await app.inject('/dashboard/data')).statusCode, 200)
  t.equal((await app.inject('/cache/stats')).statusCode, 200)
  const { errors } = app.cacheMetrics.stats('session')
  t.equal(errors, 0, 'no store error on the way')
})
