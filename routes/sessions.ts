import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { tagRoutes } from '../demo/api-tags.js'
import { failureProblem, problem, ProblemResponse, sendProblem } from '../lib/problem.js'
import { CacheError, type Failure } from '../lib/result.js'
import { MAX_USER_ID_LENGTH } from '../lib/session/schema.js'
import type { FastifySessionStore, StoreSession } from '../lib/session/store.js'

/**
 * The demo's sessions, the way an application would run them: `@fastify/session`
 * keeps a signed cookie, `fastify.sessionCache.fastifySessionStore()` keeps the
 * sessions, and a signed-in caller lists and revokes their own sessions only
 * (`/me/sessions`), "log out everywhere" included. Registered in a context of
 * its own, so only these routes read or write a session cookie.
 *
 * A session is named in `/me/sessions` by a keyed hash of its id, never by
 * the id itself: the list shows a user their other devices without handing
 * out what those devices' cookies carry.
 */

declare module 'fastify' {
  interface Session {
    /** Who signed in (the demo trusts the name it is given: no passwords here). */
    userId?: string
    /** When, from which address and browser: what the session list shows. */
    signedInAt?: Date
    ip?: string
    userAgent?: string
  }
}

export interface SessionRoutesOptions {
  /** Signs the session cookie: 32 characters or more. */
  secret: string
  /** Seconds a session cookie lives. */
  maxAge: number
}

const SessionHandle = Type.String({ minLength: 22, maxLength: 22, pattern: '^[A-Za-z0-9_-]{22}$', description: 'a session, as listed by GET /me/sessions' })
const SessionSummary = Type.Object({
  id: SessionHandle,
  current: Type.Boolean({ description: 'the session of this request' }),
  signedInAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()])
}, { additionalProperties: false })
/** These routes take no query: an unknown property is refused, as everywhere in the demo. */
const NoQuery = Type.Object({}, { additionalProperties: false })
const errors = { 400: ProblemResponse, 401: ProblemResponse, 404: ProblemResponse, 500: ProblemResponse, 503: ProblemResponse }
/** The most sessions GET /me/sessions reads back (each is one GET). */
const LIST_LIMIT = 100

function failed (request: FastifyRequest, reply: FastifyReply, failure: Failure): FastifyReply {
  return sendProblem(reply, failureProblem(failure, request.url, 'session store'))
}

const sessionRoutes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (app, options) => {
  app.addHook('onRoute', tagRoutes('session-cache'))
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: options.secret,
    // 'auto': Secure over HTTPS, and still usable on plain http://localhost
    cookie: { secure: 'auto', httpOnly: true, sameSite: 'lax', maxAge: options.maxAge * 1000 },
    saveUninitialized: false,
    // a session is written when it changes (login, logout), not again by every request that reads it: a read that
    // began before a revocation then has nothing to write back, even after a FLUSHALL took the tombstone with it
    rolling: false,
    store: app.sessionCache.fastifySessionStore({ userIdOf: (session) => session.userId ?? null })
  })
  // a store failure reaches these routes as a thrown CacheError: the same problem body as any cache failure
  app.setErrorHandler(async (err, request, reply) => {
    if (err instanceof CacheError) {
      // the save on the way out failed (or a read did): answer 503 without trying to save the session
      // a second time on the error reply, whose failure would leave Fastify's own 500
      ;(request as { session: unknown }).session = null
      return failed(request, reply, { ok: false, error: err })
    }
    throw err
  })

  const handleOf = (sessionId: string): string => app.sessionCache.keys.hash(sessionId)
  const signedIn = (request: FastifyRequest, reply: FastifyReply): string | null => {
    const userId = request.session.userId
    if (userId !== undefined) return userId
    sendProblem(reply, problem('UNAUTHORIZED', 'sign in first: POST /login', request.url))
    return null
  }

  // a login: the rate limiter gives this route its own per-IP policy
  app.post('/login', {
    schema: {
      description: 'Signs in (demo: any name, no password) and sets the session cookie; a new session id, so a cookie planted before login is worthless after it.',
      // no control characters: refused here, before a session is written, not by the store on the way out
      body: Type.Object({ userId: Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }) }, { additionalProperties: false }),
      response: { 201: Type.Object({ userId: Type.String() }, { additionalProperties: false }), ...errors }
    }
  }, async (request, reply) => {
    await request.session.regenerate()
    request.session.userId = request.body.userId
    request.session.signedInAt = new Date()
    request.session.ip = request.ip
    request.session.userAgent = request.headers['user-agent']
    return await reply.code(201).send({ userId: request.body.userId })
  })

  app.post('/logout', {
    schema: { description: 'Ends this session.', response: { 204: Type.Null(), ...errors } }
  }, async (request, reply) => {
    if (signedIn(request, reply) === null) return reply
    await request.session.destroy()
    return await reply.code(204).send(null)
  })

  app.get('/me/sessions', {
    schema: {
      description: 'The caller\'s live sessions (every browser signed in as them), soonest to expire first.',
      querystring: NoQuery,
      response: { 200: Type.Object({ userId: Type.String(), sessions: Type.Array(SessionSummary) }, { additionalProperties: false }), ...errors }
    }
  }, async (request, reply) => {
    const userId = signedIn(request, reply)
    if (userId === null) return reply
    const ids = await app.sessionCache.getUserSessionIds(userId)
    if (!ids.ok) return failed(request, reply, ids)
    const store = request.sessionStore as FastifySessionStore
    const sessions = await Promise.all(ids.value.slice(0, LIST_LIMIT).map(async (id) => {
      // a session whose value cannot be read (a miss) is still listed, and can still be revoked, without its details
      const data = await (store.get(id) as Promise<StoreSession | null>) ?? {}
      return {
        id: handleOf(id),
        current: id === request.session.sessionId,
        signedInAt: data.signedInAt instanceof Date ? data.signedInAt.toISOString() : null,
        ip: typeof data.ip === 'string' ? data.ip : null,
        userAgent: typeof data.userAgent === 'string' ? data.userAgent : null
      }
    }))
    return { userId, sessions }
  })

  app.delete('/me/sessions/:id', {
    schema: {
      description: 'Signs one of the caller\'s sessions out (another device, or this one).',
      params: Type.Object({ id: SessionHandle }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...errors }
    }
  }, async (request, reply) => {
    const userId = signedIn(request, reply)
    if (userId === null) return reply
    const ids = await app.sessionCache.getUserSessionIds(userId)
    if (!ids.ok) return failed(request, reply, ids)
    const id = ids.value.find((candidate) => handleOf(candidate) === request.params.id)
    if (id === undefined) return sendProblem(reply, problem('NOT_FOUND', 'no such session of yours', request.url))
    const deleted = await app.sessionCache.delete(id, { userId })
    if (!deleted.ok) return failed(request, reply, deleted)
    return await reply.code(204).send(null)
  })

  app.delete('/me/sessions', {
    schema: {
      description: 'Log out everywhere: revokes every session of the caller, this one included, in a fixed number of round trips.',
      querystring: NoQuery,
      response: { 200: Type.Object({ deleted: Type.Integer() }, { additionalProperties: false }), ...errors }
    }
  }, async (request, reply) => {
    const userId = signedIn(request, reply)
    if (userId === null) return reply
    const deleted = await app.sessionCache.deleteAllForUser(userId)
    return deleted.ok ? { deleted: deleted.value } : failed(request, reply, deleted)
  })
}

export default sessionRoutes
