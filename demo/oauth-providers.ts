/**
 * The OAuth providers the demo server knows, by name. A provider is what the
 * start route needs to send a user to its authorize endpoint; the demo never
 * exchanges codes (that is @fastify/oauth2's job in a real app, see
 * docs/oauth-state.md), so no client secret or token endpoint lives here.
 */

export interface OAuthProvider {
  /** The `:provider` path segment, `[A-Za-z0-9_.-]{1,64}`. */
  readonly name: string
  /** The authorization endpoint the user is redirected to. */
  readonly authorizeUrl: string
  readonly clientId: string
  readonly scope: readonly string[]
  /** Send a PKCE S256 challenge; the verifier stays in the state store. */
  readonly pkce: boolean
  /** The callback URL registered with the provider; default: the routes' public base URL + `/oauth/<name>/callback`. */
  readonly redirectUri?: string
}

export interface AuthorizationUrlParams {
  state: string
  redirectUri: string
  codeChallenge?: string
}

export class OAuthProviderRegistry {
  readonly #providers: ReadonlyMap<string, OAuthProvider>

  constructor (providers: readonly OAuthProvider[]) {
    this.#providers = new Map(providers.map((p) => [p.name, p]))
  }

  get (name: string): OAuthProvider | undefined {
    return this.#providers.get(name)
  }

  get names (): string[] {
    return [...this.#providers.keys()]
  }

  /** The authorize URL of the authorization-code flow (RFC 6749 §4.1.1, RFC 7636 §4.3). */
  authorizationUrl (provider: OAuthProvider, params: AuthorizationUrlParams): string {
    const url = new URL(provider.authorizeUrl)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('client_id', provider.clientId)
    url.searchParams.set('redirect_uri', params.redirectUri)
    url.searchParams.set('scope', provider.scope.join(' '))
    url.searchParams.set('state', params.state)
    if (params.codeChallenge !== undefined) {
      url.searchParams.set('code_challenge', params.codeChallenge)
      url.searchParams.set('code_challenge_method', 'S256')
    }
    return url.toString()
  }
}

/** The demo server's registry: one provider, `demo`, at a placeholder authorize endpoint. */
export const DEMO_OAUTH_PROVIDERS = new OAuthProviderRegistry([
  {
    name: 'demo',
    authorizeUrl: 'https://auth.example.com/oauth/authorize',
    clientId: 'cachekit-demo',
    scope: ['openid', 'profile'],
    pkce: true
  }
])
