import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { OAuthProvider, OAuthProviderRegistry } from '../demo/oauth-providers.js'
import { tagRoutes } from '../demo/api-tags.js'
import { failureProblem, problem, ProblemResponse, sendProblem } from '../lib/problem.js'
import type { Failure } from '../lib/result.js'

export interface OAuthRoutesOptions {
  /** The providers `:provider` may name (the demo passes DEMO_OAUTH_PROVIDERS). */
  providers: OAuthProviderRegistry
  /**
   * The public origin (and path prefix) the callback URL is built on, e.g.
   * `https://app.example.com`: `<publicBaseUrl>/oauth/<provider>/callback`.
   * A provider's own `redirectUri` wins over it. The request's Host is never used
   * unless `trustForwardedHost` says a proxy the deployment runs sets it.
   */
  publicBaseUrl?: string
  /** Build the callback URL from the request's (forwarded) protocol and host when no base URL is set; only behind a trusted proxy. */
  trustForwardedHost?: boolean
}

/** `base` joined with `path`: no double slash, the base's own path kept. */
function joinUrl (base: string, path: string): string {
  return base.replace(/\/+$/, '') + path
}

const ProviderParams = Type.Object({ provider: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
const errors = { 400: ProblemResponse, 404: ProblemResponse, 405: ProblemResponse, 413: ProblemResponse, 415: ProblemResponse, 500: ProblemResponse, 503: ProblemResponse }

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
  state: Type.String({ maxLength: 256 }),
  // what providers may add to a callback (RFC 9207 iss, OpenID session_state, the granted scope)
  iss: Type.Optional(Type.String({ maxLength: 2048 })),
  scope: Type.Optional(Type.String({ maxLength: 2048 })),
  session_state: Type.Optional(Type.String({ maxLength: 2048 }))
}, { additionalProperties: false })

export const CallbackReply = Type.Object({
  userId: Type.String(),
  provider: Type.String(),
  alias: Type.Optional(Type.String()),
  pkce: Type.Boolean({ description: 'a PKCE verifier was kept with the state for the token request' })
})

/** A state that could not be issued or checked: refused, never accepted (fail closed). */
function failed (request: FastifyRequest, reply: FastifyReply, failure: Failure): FastifyReply {
  return sendProblem(reply, failureProblem(failure, request.url, 'OAuth state store', 'OAUTH_STATE_UNAVAILABLE'))
}

/**
 * The demo's OAuth flow around the state store: `start` issues a state bound
 * to the user and provider and answers the authorize URL to send the browser
 * to; `callback` accepts that state once. The code is not exchanged here (a real
 * app does that with @fastify/oauth2, see docs/oauth-state.md).
 */
const oauthRoutes: FastifyPluginAsyncTypebox<OAuthRoutesOptions> = async (app, { providers, publicBaseUrl, trustForwardedHost = false }) => {
  if (publicBaseUrl !== undefined && !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(publicBaseUrl)) {
    throw new Error(`oauth routes: publicBaseUrl must be an absolute http(s) URL, got ${JSON.stringify(publicBaseUrl)}`)
  }
  if (publicBaseUrl === undefined && !trustForwardedHost) {
    throw new Error('oauth routes: set publicBaseUrl (the callback URL is never built from the Host header unless trustForwardedHost is set behind a proxy you run)')
  }
  const redirectUriOf = (request: FastifyRequest, provider: OAuthProvider): string => {
    const path = `/oauth/${provider.name}/callback`
    if (provider.redirectUri !== undefined) return provider.redirectUri
    if (publicBaseUrl !== undefined) return joinUrl(publicBaseUrl, path)
    return `${request.protocol}://${request.host}${path}`
  }
  app.addHook('onRoute', tagRoutes('oauth-state'))
  const unknown = (request: FastifyRequest, reply: FastifyReply, name: string): FastifyReply =>
    sendProblem(reply, problem('NOT_FOUND', `unknown OAuth provider ${JSON.stringify(name)}; known: ${providers.names.join(', ')}`, request.url))

  app.post('/oauth/:provider/start', {
    schema: { params: ProviderParams, body: StartBody, response: { 201: StartReply, ...errors } }
  }, async (request, reply) => {
    const provider = providers.get(request.params.provider)
    if (provider === undefined) return unknown(request, reply, request.params.provider)
    const redirectUri = redirectUriOf(request, provider)
    const created = await app.oauthState.create({ ...request.body, provider: provider.name, redirectUri, pkce: provider.pkce })
    if (!created.ok) return failed(request, reply, created)
    const { state, expiresIn, codeChallenge } = created.value
    const authorizationUrl = providers.authorizationUrl(provider, { state, redirectUri, codeChallenge })
    return await reply.code(201).send({ authorizationUrl, state, expiresIn })
  })

  app.get('/oauth/:provider/callback', {
    schema: { params: ProviderParams, querystring: CallbackQuery, response: { 200: CallbackReply, ...errors } }
  }, async (request, reply) => {
    const provider = providers.get(request.params.provider)
    if (provider === undefined) return unknown(request, reply, request.params.provider)
    const consumed = await app.oauthState.consume(request.query.state, { provider: provider.name })
    if (!consumed.ok) return failed(request, reply, consumed)
    if (consumed.value === null) return sendProblem(reply, problem('INVALID_ARGUMENT', 'unknown, expired or already used OAuth state', request.url))
    const { userId, alias, codeVerifier } = consumed.value
    return { userId, provider: provider.name, ...(alias !== undefined ? { alias } : {}), pkce: codeVerifier !== undefined }
  })
}

export default oauthRoutes
