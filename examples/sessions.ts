// Run: npx tsx examples/run.ts sessions            (embedded memory store)
//      REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/run.ts sessions
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import { cachePlugin, sessionCachePlugin, valueOr } from '../index.js' // in your app: from 'fastify-cachekit'

export async function main (redisUrl = process.env.REDIS_URL): Promise<Record<string, unknown>> {
  const app = Fastify()
  await app.register(cachePlugin, redisUrl !== undefined && redisUrl !== '' ? { redisUrl, prefix: 'example', startupWaitMs: 300 } : { prefix: 'example' })
  await app.register(sessionCachePlugin, {
    ttl: 30 * 24 * 3600, // sessions without expiresAt; also touch()'s sliding window
    encryptionKeys: [{ id: 'k1', key: Buffer.alloc(32, 7).toString('base64') }] // use a real secret: 32 random bytes
  })
  const sessions = app.sessionCache
  // start from no session of alice's (a rerun on the same Redis answers alike)
  await sessions.deleteAllForUser('alice')

  // log in twice: create() mints an id carrying the user's tag and caches the session with its index entry
  const laptop = await sessions.create({ userId: 'alice', ipAddress: '203.0.113.7', userAgent: 'Firefox' })
  const phone = await sessions.create({ userId: 'alice', expiresAt: new Date(Date.now() + 3600_000) })
  if (!laptop.ok || !phone.ok) {
    // the cache is down: a real app carries on with its database
    await app.close()
    return { cacheDown: true }
  }

  const read = valueOr(await sessions.get(laptop.value.id), null) // one GET; a failure reads as a miss
  await sessions.touch(laptop.value.id, { ip: '203.0.113.8' }) // lastActivityAt = now, TTL slides
  const ids = valueOr(await sessions.getUserSessionIds('alice'), [])

  // the database copy of the phone session, read before it is revoked...
  const staleCopy = phone.value
  const loggedOut = valueOr(await sessions.deleteAllForUser('alice', { except: laptop.value.id }), 0) // log out everywhere else
  // ...re-cached late by a slow request: refused, the revocation holds
  const lateWrite = valueOr(await sessions.set(staleCopy), 'failed')

  // a session your database already has, under its own id, with data of yours beside the typed fields
  const row = { ...laptop.value, id: randomUUID(), data: { cart: ['book'], addedAt: new Date(1_700_000_000_123) } }
  const fromDatabase = valueOr(await sessions.set(row), 'failed')
  const rowBack = valueOr(await sessions.get(row.id), null)

  const out = {
    readBack: read?.userAgent,
    fromDatabase,
    cartBack: rowBack?.data?.cart,
    // a Date went in, so a Date comes back (a string here would fail the example's test)
    dateBack: (rowBack?.data?.addedAt as Date).getTime(),
    sessionsBefore: ids.length,
    loggedOut,
    lateWrite,
    phoneAfter: valueOr(await sessions.get(phone.value.id), null),
    laptopIp: valueOr(await sessions.get(laptop.value.id), null)?.lastIpAddress
  }
  await app.close()
  return out
}
