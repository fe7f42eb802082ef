import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { tagRoutes } from '../demo/api-tags.js'
import { failureProblem, problem, ProblemResponse, sendProblem } from '../lib/problem.js'
import type { Failure } from '../lib/result.js'
import { MAX_USER_ID_LENGTH, SessionDetails, SessionJsonSchema } from '../lib/session/schema.js'

/**
 * Demo routes over `fastify.sessionCache`. Ids are checked by the cache
 * itself (one rule, one message): a malformed id is a 400 with a message, an
 * unknown one a 404, a cache outage a 503, each an RFC 9457 problem body.
 */

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) })
const UserParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH }) })
const errors = { 400: ProblemResponse, 404: ProblemResponse, 500: ProblemResponse, 503: ProblemResponse }

function failed (request: FastifyRequest, reply: FastifyReply, failure: Failure): FastifyReply {
  return sendProblem(reply, failureProblem(failure, request.url, 'session cache'))
}

function notFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, problem('NOT_FOUND', 'no such session', request.url))
}

const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRoute', tagRoutes('session-cache'))
  // a login: the rate limiter gives this route its own per-IP policy
  app.post('/sessions', {
    schema: {
      body: Type.Object({
        userId: Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH }),
        ipAddress: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'default: the request\'s address' })),
        userAgent: Type.Optional(Type.String({ maxLength: 1024, description: 'default: the User-Agent header' })),
        deviceInfo: Type.Optional(SessionDetails),
        location: Type.Optional(SessionDetails),
        isTrusted: Type.Optional(Type.Boolean()),
        expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
        ttl: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 90 * 24 * 3600, description: 'seconds to cache it' }))
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ id: Type.String(), expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) }), ...errors }
    }
  }, async (request, reply) => {
    const { ttl, expiresAt, ipAddress, userAgent, ...details } = request.body
    const created = await app.sessionCache.create({
      ...details,
      ipAddress: ipAddress ?? request.ip,
      userAgent: userAgent ?? request.headers['user-agent'],
      expiresAt: expiresAt === undefined ? null : new Date(expiresAt)
    }, { ttl })
    if (!created.ok) return failed(request, reply, created)
    return await reply.code(201).send({ id: created.value.id, expiresAt: created.value.expiresAt?.toISOString() ?? null })
  })

  app.get('/sessions/:id', {
    schema: { params: IdParams, response: { 200: SessionJsonSchema, ...errors } }
  }, async (request, reply) => {
    const found = await app.sessionCache.get(request.params.id)
    if (!found.ok) return failed(request, reply, found)
    // Dates go out as ISO 8601: the serializer formats them for `format: date-time`
    return found.value === null ? notFound(request, reply) : found.value as unknown as Static<typeof SessionJsonSchema>
  })

  app.patch('/sessions/:id/activity', {
    schema: {
      params: IdParams,
      response: { 204: Type.Null(), ...errors }
    }
  }, async (request, reply) => {
    // the activity comes from this request, so does the address
    const touched = await app.sessionCache.touch(request.params.id, { ip: request.ip })
    if (!touched.ok) return failed(request, reply, touched)
    return touched.value ? await reply.code(204).send(null) : notFound(request, reply)
  })

  app.delete('/sessions/:id', {
    schema: { params: IdParams, response: { 204: Type.Null(), ...errors } }
  }, async (request, reply) => {
    const deleted = await app.sessionCache.delete(request.params.id)
    if (!deleted.ok) return failed(request, reply, deleted)
    return deleted.value ? await reply.code(204).send(null) : notFound(request, reply)
  })

  app.get('/users/:userId/sessions', {
    schema: { params: UserParams, response: { 200: Type.Object({ sessionIds: Type.Array(Type.String()) }), ...errors } }
  }, async (request, reply) => {
    const ids = await app.sessionCache.getUserSessionIds(request.params.userId)
    return ids.ok ? { sessionIds: ids.value } : failed(request, reply, ids)
  })

  app.delete('/users/:userId/sessions', {
    schema: {
      params: UserParams,
      querystring: Type.Object({ except: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'a session id to keep (this device)' })) }),
      response: { 200: Type.Object({ deleted: Type.Integer() }), ...errors }
    }
  }, async (request, reply) => {
    const deleted = await app.sessionCache.deleteAllForUser(request.params.userId, { except: request.query.except })
    return deleted.ok ? { deleted: deleted.value } : failed(request, reply, deleted)
  })
}

export default sessionRoutes
