import t from 'tap'
import { buildApp } from '../../demo/app.js'
import { redisAclRules } from '../../lib/store/redis-acl.js'
import { ownRedis } from '../helpers/backends.js'
import { injector, tour } from './demo-tour.js'

// The minimal ACL docs/scaling.md gives is enough for every plugin: the demo
// runs its tour, edits a role and clears the cache as a user limited to it.

// the same rules lib/store/redis-acl.ts gives every other ACL test (docs/scaling.md shows them)
const RULES = redisAclRules('cachekit')

t.test('a user limited to the documented commands runs every plugin', async (t) => {
  const redis = await ownRedis(t)
  const admin = redis.client()
  await admin.call('ACL', 'SETUSER', 'cachekit', 'on', '>secret', ...RULES)
  const url = new URL(redis.url)
  url.username = 'cachekit'
  url.password = 'secret'
  const app = await buildApp({ LOG_LEVEL: 'silent', TRUST_PROXY: 'true', REDIS_URL: url.toString() })
  t.teardown(() => app.close())
  await app.ready()
  t.same((await app.inject('/health')).json(), { status: 'healthy', cache: 'up', store: 'redis' })
  t.same(await tour(injector(app), 'gina'), [])
  t.equal((await app.inject({ method: 'PUT', url: '/users/gina/roles/user' })).statusCode, 204, 'a role edit: policy log and watcher')
  t.equal(await app.authz.check('gina', 'accounts', 'read'), true)
  t.same(await app.cache.set('users:1', 'x'), { ok: true, value: true })
  const cleared = await app.cache.clear()
  t.same(cleared, { ok: true, value: 1 }, 'clear: SCAN and UNLINK')
  const refused = await admin.call('ACL', 'DRYRUN', 'cachekit', 'flushdb').catch((err: Error) => err.message)
  t.match(String(refused), /no permissions|not allowed|NOPERM|has no permissions/i, 'and nothing more: FLUSHDB is refused')
})
