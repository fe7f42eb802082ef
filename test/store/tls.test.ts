import t from 'tap'
import { startRedis } from '../../harness/redis-server.js'
import { redisAclRules } from '../../lib/store/redis-acl.js'
import { demoApp } from '../helpers/demo.js'

// rediss:// against a local redis-server serving TLS only, with a CA and a
// server certificate this test makes (openssl): the demo connects with
// REDIS_TLS_CA_FILE, as the restricted ACL user too, and refuses a server its
// CA did not sign.

t.test('the demo over TLS, as the minimal ACL user, with REDIS_TLS_CA_FILE', async (t) => {
  const redis = await startRedis([], { tls: true, user: { name: 'cachekit', password: 'tls-pw', rules: redisAclRules('cachekit') } })
  t.teardown(() => redis.stop())
  t.match(redis.url, /^rediss:\/\/cachekit:tls-pw@127\.0\.0\.1:\d+$/)
  t.type(redis.tlsCaFile, 'string')

  const app = await demoApp(t, redis, { REDIS_TLS_CA_FILE: redis.tlsCaFile as string, CACHE_KEY_HASH_SECRET: 'tls-test-secret-tls-test-secret' })
  t.match((await app.inject('/health')).json(), { status: 'healthy', store: 'redis' }, 'connected over TLS')
  const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'alice' } })
  t.equal(login.statusCode, 201)
  const cookie = login.cookies.find((c) => c.name === 'sessionId')?.value ?? ''
  const mine = await app.inject({ url: '/me/sessions', cookies: { sessionId: cookie } })
  t.equal(mine.statusCode, 200, 'a session round trip: written at login, read back from its cookie')
  t.equal(mine.json().sessions.length, 1, 'and listed in its user\'s index')
  const start = await app.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: 'alice' } })
  t.equal((await app.inject(`/oauth/demo/callback?code=c&state=${start.json().state as string}`)).statusCode, 200, 'a state round trip')
  t.ok((await redis.client().dbsize()) > 0, 'the keys are in that Redis')
})

t.test('without the CA, the server\'s certificate is refused: the demo starts degraded, never unverified', async (t) => {
  const redis = await startRedis([], { tls: true })
  t.teardown(() => redis.stop())
  const app = await demoApp(t, redis, { CACHE_KEY_HASH_SECRET: 'tls-test-secret-tls-test-secret' })
  t.match((await app.inject('/health')).json(), { status: 'degraded', cache: 'down' })
})

t.test('a REDIS_TLS_CA_FILE that cannot be read stops start-up, naming the variable', async (t) => {
  await t.rejects(demoApp(t, 'memory', { REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }), /REDIS_TLS_CA_FILE: cannot read \/nonexistent\/ca\.pem/)
})
