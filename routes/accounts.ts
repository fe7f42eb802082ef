import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { setTimeout as sleep } from 'node:timers/promises'
import { tagRoutes } from '../demo/api-tags.js'
import { failureProblem, ProblemResponse, sendProblem } from '../lib/problem.js'

/**
 * Cache-aside over a deliberately slow source: `GET /users/:userId/accounts`
 * reads a user's account list through the typed namespace `accounts`, whose
 * loader takes `delayMs` (50 ms) per load, with grace (stale served at once
 * while one refresh runs) and the load lock (one load across instances).
 * `DELETE /users/:userId/accounts/cache` invalidates the user's tag. Watch it
 * in /cache/stats, /metrics and the dashboard: 40 concurrent misses, one load.
 */

const UserId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@-]+$' })
const Params = Type.Object({ userId: UserId }, { additionalProperties: false })

export const AccountListSchema = Type.Object({
  userId: Type.String(),
  accounts: Type.Array(Type.Object({ id: Type.String(), provider: Type.String(), balance: Type.Number() }, { additionalProperties: false })),
  loadedAt: Type.Integer({ description: 'epoch ms when the slow source answered: an older value was served from the cache' })
}, { additionalProperties: false })
export type AccountList = Static<typeof AccountListSchema>

export interface AccountRoutesOptions {
  /** How long the slow source takes per load, ms. Default 50. */
  delayMs?: number
  /** Seconds an account list is fresh. Default 5 (short, so stale serves show). */
  ttl?: number
  /** Seconds past the TTL a stale list may be served while one refresh runs. Default 60. */
  grace?: number
}

/** The slow source: a provider API or database answering in `delayMs`; for user ids starting with `down-` it fails, as a provider outage does. */
export async function loadAccounts (userId: string, delayMs: number): Promise<AccountList> {
  await sleep(delayMs)
  if (userId.startsWith('down-')) throw new Error(`the account provider of ${userId} is down`)
  return {
    userId,
    accounts: [
      { id: `${userId}-checking`, provider: 'demo-bank', balance: 1200 },
      { id: `${userId}-savings`, provider: 'demo-bank', balance: 5300 }
    ],
    loadedAt: Date.now()
  }
}

const accountRoutes: FastifyPluginAsyncTypebox<AccountRoutesOptions> = async (app, options) => {
  const delayMs = options.delayMs ?? 50
  const accounts = app.cache.namespace<AccountList>('accounts', {
    ttl: options.ttl ?? 5,
    grace: options.grace ?? 60,
    jitter: 0.1,
    lock: true,
    schema: AccountListSchema
  })
  app.addHook('onRoute', tagRoutes('cache'))

  app.get('/users/:userId/accounts', {
    schema: { params: Params, response: { 200: AccountListSchema, 500: ProblemResponse, 503: ProblemResponse } }
  }, async (request, reply) => {
    const { userId } = request.params
    const list = await accounts.getOrSet(userId, () => loadAccounts(userId, delayMs), { tags: [`user:${userId}`] })
    if (!list.ok) return sendProblem(reply, failureProblem(list, request.url, 'account source'))
    return list.value
  })

  app.delete('/users/:userId/accounts/cache', {
    schema: { params: Params, response: { 204: Type.Null(), 503: ProblemResponse } }
  }, async (request, reply) => {
    const done = await accounts.invalidateTags([`user:${request.params.userId}`])
    if (!done.ok) return sendProblem(reply, failureProblem(done, request.url, 'account cache'))
    return await reply.code(204).send(null)
  })
}

export default accountRoutes
