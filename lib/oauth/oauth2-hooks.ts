import type { OAuthStates, StateData } from './contracts.js'

/**
 * The bridge to `@fastify/oauth2`. That plugin calls `generateStateFunction`
 * when it builds the authorize URL (the returned state goes into the URL and a
 * cookie) and `checkStateFunction` before it exchanges the code. It picks the
 * promise or the callback form by the function's arity, so each function here
 * declares exactly ONE parameter: the request. Both are called bound to the
 * Fastify instance; they do not use `this`.
 *
 * `checkStateFunction` resolves `true` only for a state this store accepted;
 * `false` (the plugin then fails with "Invalid state") for a malformed,
 * unknown, expired, replayed or mismatched one; and rejects with the store's
 * CacheError (code TIMEOUT/UNAVAILABLE) when the state could not be checked,
 * so a route can answer 503 instead of 400. It never resolves `true` on doubt.
 */

/** The slice of a request these functions read (a FastifyRequest fits). */
export interface OAuthRequest { query: unknown }

export interface OAuth2StateOptions<R extends OAuthRequest> {
  /** Provider name the states are bound to; a state of another provider is refused. */
  provider: string
  /**
   * Who is signing in, read from the request (session, body, header). At the
   * start it is required (no user, no state); at the callback a user that
   * differs from the creator's is refused, and `undefined` skips that check.
   */
  userId: (request: R) => string | undefined | Promise<string | undefined>
  alias?: string
  redirectUri?: string
}

export interface OAuth2StateFunctions<R extends OAuthRequest> {
  generateStateFunction: (request: R) => Promise<string>
  checkStateFunction: (request: R) => Promise<boolean>
  /** The state data `checkStateFunction` accepted for this request, if it did. */
  stateOf: (request: R) => StateData | undefined
}

export function oauth2StateFunctions<R extends OAuthRequest> (states: OAuthStates, options: OAuth2StateOptions<R>): OAuth2StateFunctions<R> {
  const accepted = new WeakMap<R, StateData>()

  const generateStateFunction = async (request: R): Promise<string> => {
    const created = await states.create({
      userId: await options.userId(request) as string,
      provider: options.provider,
      alias: options.alias,
      redirectUri: options.redirectUri
    })
    if (!created.ok) throw created.error
    return created.value.state
  }

  const checkStateFunction = async (request: R): Promise<boolean> => {
    const state = (request.query as { state?: unknown }).state
    const consumed = await states.consume(state as string, { userId: await options.userId(request), provider: options.provider })
    if (!consumed.ok) {
      if (consumed.error.code === 'INVALID_ARGUMENT') return false
      throw consumed.error
    }
    if (consumed.value === null) return false
    accepted.set(request, consumed.value)
    return true
  }

  return { generateStateFunction, checkStateFunction, stateOf: (request) => accepted.get(request) }
}
