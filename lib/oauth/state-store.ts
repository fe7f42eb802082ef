import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { ComponentContext } from '../context.js'
import { personal, type KeyBuilder } from '../keys.js'
import type { CacheMetrics } from '../metrics.js'
import { KEY_NAMESPACES, METRICS_NAMESPACES } from '../namespaces.js'
import { attempt, fail, ok, type Failure, type Result } from '../result.js'
import type { Store } from '../store/store.js'
import { ttlOptionMs } from '../ttl.js'
import { StateDataSchema, type ConsumeOptions, type CreatedState, type CreateStateInput, type OAuthStates, type StateData } from './contracts.js'
import { codeChallengeOf, createCodeVerifier } from './pkce.js'
import { randomToken } from './random-token.js'
import { oauth2StateFunctions, type OAuth2StateFunctions, type OAuth2StateOptions, type OAuthRequest } from './oauth2-hooks.js'

/**
 * One-time OAuth `state` tokens, kept in the shared store so that any instance
 * can check a callback that another instance started.
 *
 * - A state is 32 random bytes, base64url (43 characters), living `ttl` seconds.
 * - `consume` reads and deletes in one atomic GETDEL: across any number of
 *   instances a state is accepted at most once.
 * - It fails closed: a state that could not be checked is a Failure, never an
 *   acceptance, and a state that could not be stored is never handed out.
 * - The key holds a keyed hash (HMAC) of the state, never the state itself:
 *   someone who can read Redis keys (SCAN, MONITOR of key names, a dump) learns
 *   nothing they could take to a callback.
 *
 * Its store, keys, metrics and log come from a ComponentContext: the plugin
 * passes `fastify.cache.context`; without Fastify,
 * `new OAuthStateStore(new ComponentContext({ store }), { ttl })`.
 */

export const DEFAULT_STATE_TTL_SECONDS = 600
export const MAX_STATE_TTL_SECONDS = 3600

/**
 * 43 base64url characters whose last one carries 2 zero padding bits: exactly
 * the encodings of 32 bytes. Anything else is refused before the store is asked.
 */
const STATE_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/
// eslint-disable-next-line no-control-regex
const TEXT_PATTERN = /^[^\u0000-\u001f\u007f]{1,256}$/
const MAX_REDIRECT_URI_LENGTH = 2048

// compiled once: the check runs on every accepted callback
const isStateData = TypeCompiler.Compile(StateDataSchema)

export interface OAuthStateStoreOptions {
  /** Lifetime of a state in seconds, in (0, 3600]; default 600. */
  ttl?: number
}

function invalid (message: string): Failure {
  return fail('INVALID_ARGUMENT', message)
}

// typeof first: RegExp.test would read `undefined` as the text "undefined"
const isText = (value: unknown): boolean => typeof value === 'string' && TEXT_PATTERN.test(value)

function checkInput (input: CreateStateInput): Failure | undefined {
  if (!isText(input.userId)) return invalid('userId must be 1 to 256 characters without control characters')
  if (typeof input.provider !== 'string' || !NAME_PATTERN.test(input.provider)) return invalid(`provider must match ${String(NAME_PATTERN)}`)
  if (input.alias !== undefined && !isText(input.alias)) return invalid('alias must be 1 to 256 characters without control characters')
  if (input.redirectUri !== undefined && !isHttpUrl(input.redirectUri)) return invalid(`redirectUri must be an absolute http(s) URL of at most ${MAX_REDIRECT_URI_LENGTH} characters`)
  return undefined
}

function isHttpUrl (value: string): boolean {
  return value.length <= MAX_REDIRECT_URI_LENGTH && URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)
}

export class OAuthStateStore implements OAuthStates {
  readonly context: ComponentContext
  readonly store: Store
  readonly keys: KeyBuilder
  readonly ttl: number
  /** Counts accepted (hit), refused (miss) and failed (error) consumes under namespace `oauth`. */
  readonly metrics: CacheMetrics

  /** Throws a TypeError for a bad `ttl` (a configuration error). */
  constructor (context: ComponentContext, options: OAuthStateStoreOptions = {}) {
    const ttl = options.ttl ?? DEFAULT_STATE_TTL_SECONDS
    ttlOptionMs('OAuthStateStore', 'ttl', ttl, MAX_STATE_TTL_SECONDS)
    this.context = context
    this.store = context.store
    this.keys = context.keys
    this.ttl = ttl
    this.metrics = context.metrics
  }

  /** True for a string shaped like a state this store issues (no store call). */
  static isWellFormed (state: unknown): state is string {
    return typeof state === 'string' && STATE_PATTERN.test(state)
  }

  /** The store key of a state: `<prefix>:oauth:state:<HMAC of the state>`. */
  keyFor (state: string): Result<string> {
    return this.keys.key(KEY_NAMESPACES.oauth, 'state', personal(state))
  }

  /** Issues a new state bound to `input`. Fails (never hands out a state) when it cannot be stored. */
  async create (input: CreateStateInput): Promise<Result<CreatedState>> {
    const bad = checkInput(input)
    if (bad !== undefined) return bad
    const state = randomToken()
    const key = this.keyFor(state)
    if (!key.ok) return key
    const verifier = input.pkce === true ? createCodeVerifier() : undefined
    const data: StateData = {
      userId: input.userId,
      provider: input.provider,
      ...(input.alias !== undefined ? { alias: input.alias } : {}),
      ...(input.redirectUri !== undefined ? { redirectUri: input.redirectUri } : {}),
      ...(verifier !== undefined ? { codeVerifier: verifier } : {}),
      createdAt: Date.now()
    }
    const stored = await this.store.setJson(key.value, data, { ttl: this.ttl })
    if (!stored.ok) return this.#failed(stored)
    return ok({
      state,
      expiresIn: this.ttl,
      ...(verifier !== undefined ? { codeChallenge: codeChallengeOf(verifier) } : {})
    })
  }

  /**
   * Accepts a state at most once: its data, or `null` when it is unknown,
   * expired, already used, or bound to another user or provider (it is burned
   * either way). A malformed state is an INVALID_ARGUMENT Failure without any
   * store call; an unreachable store is a Failure: refuse, never accept.
   */
  async consume (state: string, options: ConsumeOptions = {}): Promise<Result<StateData | null>> {
    if (!OAuthStateStore.isWellFormed(state)) return invalid('state is not a 43-character base64url token')
    const key = this.keyFor(state)
    if (!key.ok) return key
    const raw = await this.store.getDel(key.value)
    if (!raw.ok) return this.#failed(raw)
    if (raw.value === null) return this.#refused()
    const text = raw.value
    const parsed = attempt('DECODE', () => JSON.parse(text) as unknown)
    if (!parsed.ok || !isStateData.Check(parsed.value)) {
      return this.#failed(fail('DECODE', `stored OAuth state under ${key.value} is not valid state data`))
    }
    const data = parsed.value
    const otherUser = options.userId !== undefined && options.userId !== data.userId
    const otherProvider = options.provider !== undefined && options.provider !== data.provider
    if (otherUser || otherProvider) {
      this.context.warn('oauth:mismatch', { otherUser, otherProvider }, 'OAuth state presented for another user or provider: refused and burned')
      return this.#refused()
    }
    this.metrics.hit(METRICS_NAMESPACES.oauth)
    return ok(data)
  }

  /**
   * `generateStateFunction` and `checkStateFunction` for `@fastify/oauth2`, in
   * its promise form (one parameter each), plus `stateOf(request)` to read the
   * data the check accepted.
   */
  forOAuth2<R extends OAuthRequest = OAuthRequest> (options: OAuth2StateOptions<R>): OAuth2StateFunctions<R> {
    return oauth2StateFunctions(this, options)
  }

  #refused (): Result<null> {
    this.metrics.miss(METRICS_NAMESPACES.oauth)
    return ok(null)
  }

  #failed (failure: Failure): Failure {
    return this.context.failed(METRICS_NAMESPACES.oauth, failure, 'OAuth state could not be checked: refused')
  }
}
