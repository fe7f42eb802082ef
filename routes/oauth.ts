import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { OAuthProviderRegistry } from '../demo/oauth-providers.js'
import type { CacheError } from '../lib/result.js'

export interface OAuthRoutesOptions {
  /** The providers `:provider` may name (the demo passes DEMO_OAUTH_PROVIDERS). */
  providers: OAuthProviderRegistry
}

const ProviderParams = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 64 }) })
const ErrorReply = Type.Object({ error: Type.String() })

export const StartBody = Type.Object({
  userId: Type.String({ minLength: 1, maxLength: 256 }),
  alias: Type.Optional(Type.String({ minLength: 1, maxLength: 256 }))
}, { additionalProperties: false })

export const StartReply = Type.Object({
  authorizationUrl: Type.String(),
  state: Type.String(),
  expiresIn: Type.Number()
})

export const CallbackQuery = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 2048 }),
  state: Type.String({ maxLength: 256 })
})

export const CallbackReply = Type.Object({
  userId: Type.String(),
  provider: Type.String(),
  alias: Type.Optional(Type.String()),
  pkce: Type.Boolean({ description: 'a PKCE verifier was kept with the state for the token request' })
})

/** Bad input is the caller's (400); anything else means the state store could not answer: fail closed (503). */
const statusOf = (error: CacheError): 400 | 503 => error.code === 'INVALID_ARGUMENT' ? 400 : 503

/**
 * The demo's OAuth flow around the state store: `start` issues a state bound
 * to the user and provider and answers the authorize URL to send the browser
 * to; `callback` accepts that state once. The code is not exchanged here (a real
 * app does that with @fastify/oauth2, see docs/oauth-state.md).
 */
const oauthRoutes: FastifyPluginAsyncTypebox<OAuthRoutesOptions> = async (app, { providers }) => {
  const unknown = (name: string): { error: string } => ({ error: `unknown OAuth provider ${JSON.stringify(name)}; known: ${providers.names.join(', ')}` })

  app.post('/oauth/:provider/start', {
    schema: { params: ProviderParams, body: StartBody, response: { 201: StartReply, '4xx': ErrorReply, 503: ErrorReply } }
  }, async (request, reply) => {
    const provider = providers.get(request.params.provider)
    if (provider === undefined) return await reply.code(404).send(unknown(request.params.provider))
    const redirectUri = `${request.protocol}://${request.host}/oauth/${provider.name}/callback`
    const created = await app.oauthState.create({ ...request.body, provider: provider.name, redirectUri, pkce: provider.pkce })
    if (!created.ok) return await reply.code(statusOf(created.error)).send({ error: created.error.message })
    const { state, expiresIn, codeChallenge } = created.value
    const authorizationUrl = providers.authorizationUrl(provider, { state, redirectUri, codeChallenge })
    return await reply.code(201).send({ authorizationUrl, state, expiresIn })
  })

  app.get('/oauth/:provider/callback', {
    schema: { params: ProviderParams, querystring: CallbackQuery, response: { 200: CallbackReply, '4xx': ErrorReply, 503: ErrorReply } }
  }, async (request, reply) => {
    const provider = providers.get(request.params.provider)
    if (provider === undefined) return await reply.code(404).send(unknown(request.params.provider))
    const consumed = await app.oauthState.consume(request.query.state, { provider: provider.name })
    if (!consumed.ok) return await reply.code(statusOf(consumed.error)).send({ error: consumed.error.message })
    if (consumed.value === null) return await reply.code(400).send({ error: 'unknown, expired or already used OAuth state' })
    const { userId, alias, codeVerifier } = consumed.value
    return { userId, provider: provider.name, ...(alias !== undefined ? { alias } : {}), pkce: codeVerifier !== undefined }
  })
}

export default oauthRoutes
