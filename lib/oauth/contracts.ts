import { Type, type Static } from '@sinclair/typebox'
import type { Result } from '../result.js'

/**
 * The contracts of the OAuth state flow, apart from any implementation: what a
 * state is bound to, what creating and consuming one take and answer, and the
 * slice of a state store the `@fastify/oauth2` hooks need. Both the store
 * (state-store.ts) and the hooks (oauth2-hooks.ts) import this file and
 * neither imports the other's types, so there is no cycle between them.
 */

export const StateDataSchema = Type.Object({
  userId: Type.String(),
  provider: Type.String(),
  alias: Type.Optional(Type.String()),
  redirectUri: Type.Optional(Type.String()),
  codeVerifier: Type.Optional(Type.String()),
  /** Milliseconds since the epoch, on the creating instance's clock. */
  createdAt: Type.Number()
})

/** What a state was bound to when it was created; `consume` hands it back once. */
export type StateData = Static<typeof StateDataSchema>

export interface CreateStateInput {
  /** The user starting the flow: a callback for another user is refused. */
  userId: string
  /** Provider name (`[A-Za-z0-9_.-]{1,64}`): a callback for another provider is refused. */
  provider: string
  /** Free label kept with the state, e.g. which linked account is being added. */
  alias?: string
  /** The redirect_uri sent with the authorize request; the token request must repeat it. */
  redirectUri?: string
  /** Generate and keep a PKCE code verifier; its S256 challenge is returned. */
  pkce?: boolean
}

export interface CreatedState {
  state: string
  /** Seconds the state stays valid. */
  expiresIn: number
  /** S256 challenge for the authorize URL, with `pkce: true`. */
  codeChallenge?: string
}

export interface ConsumeOptions {
  /** The user at the callback: a state created for another user is refused (and stays burned). */
  userId?: string
  /** The provider of the callback: a state created for another provider is refused (and stays burned). */
  provider?: string
}

/** What the `@fastify/oauth2` hooks need of a state store (an OAuthStateStore fits). */
export interface OAuthStates {
  create (input: CreateStateInput): Promise<Result<CreatedState>>
  consume (state: string, options?: ConsumeOptions): Promise<Result<StateData | null>>
}
