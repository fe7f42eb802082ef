// Run: npx tsx examples/run.ts authz            (embedded memory store)
//      REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/run.ts authz
import { newEnforcer } from 'casbin'
import Fastify from 'fastify'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from '../demo/authz-policy.js'
import { authzPlugin, cachePlugin } from '../index.js' // in your app: from 'fastify-cachekit'

export async function main (redisUrl = process.env.REDIS_URL): Promise<Record<string, unknown>> {
  const app = Fastify()
  await app.register(cachePlugin, redisUrl !== undefined && redisUrl !== '' ? { redisUrl, prefix: 'example' } : { prefix: 'example' })
  // casbin decides; allows are cached 300 s, denies 60 s; the subject of a guard is request.user by default
  await app.register(authzPlugin, {
    enforcer: await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY), // demo/authz/model.conf, demo/authz/policy.csv
    subject: (request) => request.headers['x-user-id'] as string | undefined
  })
  // start from no cached decision, as after a policy change made elsewhere (a rerun on the same Redis answers alike)
  await app.authz.invalidateAll()

  app.get('/accounts/:id', { preHandler: app.authz.require('accounts', 'read') }, async () => ({ balance: 0 }))
  app.get('/admin', { preHandler: app.authz.requireRole('admin') }, async () => ({ ok: true }))

  const bobReads = await app.authz.check('bob', 'accounts', 'read') // true: bob has the role user
  const carolBefore = (await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'carol' } })).statusCode // 403
  await app.authz.policy?.assignRole('carol', 'user') // edits casbin, then forgets carol's cached decisions
  const carolAfter = (await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'carol' } })).statusCode // 200
  const aliceAdmin = (await app.inject({ url: '/admin', headers: { 'x-user-id': 'alice' } })).statusCode // 200
  const stats = app.cacheMetrics.stats('authz')
  await app.close()
  return { bobReads, carolBefore, carolAfter, aliceAdmin, stats }
}
