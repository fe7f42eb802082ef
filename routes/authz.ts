import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorCode } from '../lib/result.js'

// no control characters: the key builder refuses them (a check would only deny)
const Identifier = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })
const RoleName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })
const RoleParams = Type.Object({ userId: Identifier, role: RoleName })
const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  instance: Type.String()
})

/** HTTP status of a failed policy edit. */
const STATUS_OF: Record<ErrorCode, 400 | 500 | 503> = {
  INVALID_ARGUMENT: 400,
  TIMEOUT: 503,
  UNAVAILABLE: 503,
  DECODE: 500,
  ENCODE: 500,
  SCRIPT: 500,
  INTERNAL: 500
}

const TITLES: Record<number, string> = { 400: 'Bad Request', 500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable' }

function problem (request: FastifyRequest, reply: FastifyReply, status: 400 | 500 | 501 | 503, detail: string): FastifyReply {
  return reply.code(status).type('application/problem+json')
    .send({ type: 'about:blank', title: TITLES[status], status, detail, instance: request.url })
}

/** The demo takes the acting user from this header; a real service reads its authenticated user. */
export const DEMO_SUBJECT_HEADER = 'x-user-id'

/**
 * Demo routes over `fastify.authz`: ask for a decision, grant and revoke roles
 * (which invalidate that user's cached decisions), and one guarded route.
 */
const authzRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/authz/check', {
    schema: {
      body: Type.Object({ userId: Identifier, resource: Identifier, action: Identifier }, { additionalProperties: false }),
      response: { 200: Type.Object({ allowed: Type.Boolean() }) }
    }
  }, async (request) => {
    const { userId, resource, action } = request.body
    return { allowed: await app.authz.check(userId, resource, action) }
  })

  const editRole = (edit: 'assignRole' | 'revokeRole') => async (request: FastifyRequest<{ Params: { userId: string, role: string } }>, reply: FastifyReply) => {
    const policy = app.authz.policy
    if (policy === undefined) return problem(request, reply, 501, 'roles are edited through a casbin enforcer, and this app has none')
    const done = await policy[edit](request.params.userId, request.params.role)
    if (!done.ok) return problem(request, reply, STATUS_OF[done.error.code], done.error.message)
    return await reply.code(204).send()
  }
  const roleSchema = { params: RoleParams, response: { 501: Problem, 503: Problem } }
  app.put('/users/:userId/roles/:role', { schema: roleSchema }, editRole('assignRole'))
  app.delete('/users/:userId/roles/:role', { schema: roleSchema }, editRole('revokeRole'))

  app.get('/accounts/:id', {
    schema: { params: Type.Object({ id: Identifier }) },
    preHandler: app.authz.require('accounts', 'read', {
      subject: (request) => {
        const header = request.headers[DEMO_SUBJECT_HEADER]
        return typeof header === 'string' ? header : undefined
      }
    })
  }, async (request) => ({ id: request.params.id, owner: 'demo', balance: 0 }))
}

export default authzRoutes
