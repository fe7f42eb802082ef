import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { tagRoutes } from '../demo/api-tags.js'
import { failureProblem, problem, ProblemResponse, sendProblem } from '../lib/problem.js'

// no control characters: the key builder refuses them (a check would only deny)
const Identifier = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })
const RoleName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })
const RoleParams = Type.Object({ userId: Identifier, role: RoleName })

/** The demo takes the acting user from this header; a real service reads its authenticated user. */
export const DEMO_SUBJECT_HEADER = 'x-user-id'

/**
 * Demo routes over `fastify.authz`: ask for a decision, grant and revoke roles
 * (which invalidate that user's cached decisions), and one guarded route.
 */
const authzRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRoute', tagRoutes('authz-cache'))
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
    if (policy === undefined) return sendProblem(reply, problem('NOT_IMPLEMENTED', 'roles are edited through a casbin enforcer, and this app has none', request.url))
    const done = await policy[edit](request.params.userId, request.params.role)
    if (!done.ok) return sendProblem(reply, failureProblem(done, request.url, 'authorization cache', 'AUTHZ_UNAVAILABLE'))
    return await reply.code(204).send()
  }
  const roleSchema = { params: RoleParams, response: { 204: Type.Null(), 400: ProblemResponse, 500: ProblemResponse, 501: ProblemResponse, 503: ProblemResponse } }
  app.put('/users/:userId/roles/:role', { schema: roleSchema }, editRole('assignRole'))
  app.delete('/users/:userId/roles/:role', { schema: roleSchema }, editRole('revokeRole'))

  app.get('/accounts/:id', {
    schema: {
      params: Type.Object({ id: Identifier }),
      querystring: Type.Object({}, { additionalProperties: false }),
      response: {
        200: Type.Object({ id: Type.String(), owner: Type.String(), balance: Type.Number() }),
        401: ProblemResponse,
        403: ProblemResponse
      }
    },
    preHandler: app.authz.require('accounts', 'read', {
      subject: (request) => {
        const header = request.headers[DEMO_SUBJECT_HEADER]
        return typeof header === 'string' ? header : undefined
      }
    })
  }, async (request) => ({ id: request.params.id, owner: 'demo', balance: 0 }))
}

export default authzRoutes
