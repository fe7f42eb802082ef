import { Type, type Static } from '@sinclair/typebox'
import { EventEmitter } from 'node:events'
import type { Result } from '../result.js'
import { MAX_USER_ID_LENGTH } from './schema.js'
import { SLIDING_HEADROOM_MAX_MS, type SessionCache } from './session-cache.js'

/**
 * A session store in the express-session style that `@fastify/session`
 * takes (`get`, `set`, `destroy`, `touch`, each with a callback, or a promise
 * when the callback is left out), over the session cache:
 *
 * - any session id and any session data round-trip (Dates inside come back as
 *   Dates; the cookie's dates as ISO strings, which is what `@fastify/session`
 *   restores a cookie from);
 * - each session lives until its cookie expires (a cookie without an expiry:
 *   the cache's `ttl` after its last save);
 * - a session without a user (before login) is stored like any other; once
 *   `userIdOf(session)` names a user, the session joins that user's index, so
 *   `sessionCache.deleteAllForUser(user)` logs out every browser of theirs;
 * - a save that lands after its session was revoked is refused quietly (the
 *   request answers as it would have; its next request finds no session).
 *
 * Store failures reach `@fastify/session` as errors (it answers 500): a
 * session store is where sessions live, so a failure is not a miss here.
 */

/** What the store keeps per session. */
export const StoreRecordSchema = Type.Object({
  id: Type.String(),
  userId: Type.Union([Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH }), Type.Null()]),
  expiresAt: Type.Date(),
  // any object: what is inside was checked as JSON data on the way in (toJsonData)
  data: Type.Object({}, { additionalProperties: true })
}, { additionalProperties: false })
export type StoreRecord = Static<typeof StoreRecordSchema>

/** A session as a store sees it: its own enumerable properties, `cookie` among them. */
export type StoreSession = Record<string, any>

export interface FastifySessionStoreOptions {
  /**
   * The user a session belongs to, or null/undefined before login. Default:
   * the session's `userId` property when it is a non-empty string.
   */
  userIdOf?: (session: StoreSession) => string | null | undefined
}

type Callback = (err?: any) => void
type GetCallback = (err: any, session?: any) => void

const defaultUserIdOf = (session: StoreSession): string | null =>
  typeof session.userId === 'string' && session.userId !== '' ? session.userId : null

/** Calls back (or resolves) with the value, or with the failure's error: one promise step to the callback (the save is on every changed request's path). */
function answer<T> (result: Promise<Result<T>>, callback: ((err: unknown, value?: T) => void) | undefined): Promise<T> | undefined {
  if (callback === undefined) return result.then((r) => { if (!r.ok) throw r.error; return r.value })
  result.then((r) => { if (r.ok) callback(null, r.value); else callback(r.error) }, callback)
  return undefined
}

/** The cookie as plain JSON: Dates as ISO strings, nothing undefined. */
function cookieJson (cookie: unknown): Record<string, unknown> | undefined {
  if (typeof cookie !== 'object' || cookie === null) return undefined
  const raw = typeof (cookie as { toJSON?: unknown }).toJSON === 'function' ? (cookie as { toJSON: () => unknown }).toJSON() : cookie
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (v !== undefined) out[k] = v instanceof Date ? v.toISOString() : v
  }
  return out
}

/** When the session's cookie expires, or null for a cookie without an expiry. */
function cookieExpiry (cookie: Record<string, unknown> | undefined): Date | null {
  if (cookie === undefined) return null
  if (typeof cookie.expires === 'string' || typeof cookie.expires === 'number') {
    const at = new Date(cookie.expires)
    if (!Number.isNaN(at.getTime())) return at
  }
  const maxAge = cookie.maxAge ?? cookie.originalMaxAge
  return typeof maxAge === 'number' && Number.isFinite(maxAge) ? new Date(Date.now() + maxAge) : null
}

/**
 * The session's data, or null once its cookie has expired: a record is kept a
 * little past that (see SessionCache.setSliding), never served past it.
 */
function live (record: StoreRecord | null): StoreSession | null {
  if (record === null) return null
  // the record's expiry is at most the headroom past the cookie's: until its last minute, the cookie is live
  if (record.expiresAt.getTime() - Date.now() > SLIDING_HEADROOM_MAX_MS) return record.data
  const expires = (record.data as { cookie?: { expires?: unknown } }).cookie?.expires
  // as cookieExpiry reads it: an ISO string or epoch ms (what cannot be read is no expiry)
  const at = typeof expires === 'string' ? Date.parse(expires) : typeof expires === 'number' ? expires : NaN
  return at <= Date.now() ? null : record.data
}

export class FastifySessionStore extends EventEmitter {
  readonly #cache: SessionCache<StoreRecord>
  readonly #userIdOf: (session: StoreSession) => string | null | undefined

  constructor (cache: SessionCache<StoreRecord>, options: FastifySessionStoreOptions = {}) {
    super()
    this.#cache = cache
    this.#userIdOf = options.userIdOf ?? defaultUserIdOf
  }

  /** The session stored under `sid`, or null (also once its cookie has expired). One GET. */
  get (sid: string, callback?: GetCallback): Promise<StoreSession | null> | undefined {
    const read = this.#cache.get(sid)
    if (callback === undefined) return read.then((r) => { if (!r.ok) throw r.error; return live(r.value) })
    // the hot path of every request with a session cookie: one promise step to the callback
    read.then((r) => { if (r.ok) callback(null, live(r.value)); else callback(r.error) }, callback)
    return undefined
  }

  /** Stores the session until its cookie expires, indexed under its user once it has one. */
  set (sid: string, session: StoreSession, callback?: Callback): Promise<unknown> | undefined {
    return answer(this.#save(sid, session), callback)
  }

  /** Revokes the session: deleted, out of its user's index, and refused if a running request saves it again. */
  destroy (sid: string, callback?: Callback): Promise<unknown> | undefined {
    return answer(this.#cache.delete(sid), callback)
  }

  /**
   * Moves the session's expiry to its cookie's (a rolling session), keeping
   * the stored data as it is; stores the session when it is not there.
   */
  touch (sid: string, session: StoreSession, callback?: Callback): Promise<unknown> | undefined {
    const expiresAt = cookieExpiry(cookieJson(session?.cookie)) ?? new Date(Date.now() + this.#cache.ttlMs)
    return answer(this.#cache.touch(sid, { expiresAt }).then(async (r) => r.ok && !r.value ? await this.#save(sid, session) : r), callback)
  }

  async #save (sid: string, given: StoreSession | null | undefined): Promise<Result<unknown>> {
    const session = given ?? {}
    const cookie = cookieJson(session.cookie)
    const data: Record<string, unknown> = {}
    for (const key of Object.keys(session)) if (key !== 'cookie') data[key] = session[key]
    if (cookie !== undefined) data.cookie = cookie
    const userId = this.#userIdOf(session)
    // the least it must live: the cache keeps it a little longer, so that the saves that follow replace its value alone
    const expiresAt = cookieExpiry(cookie) ?? new Date(Date.now() + this.#cache.ttlMs)
    // an empty name is nobody, as undefined and null are
    return await this.#cache.setSliding({ id: sid, userId: userId === '' || userId === undefined ? null : userId, expiresAt, data })
  }
}
