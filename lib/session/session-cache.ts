import { randomBytes } from 'node:crypto'
import type { ComponentContext } from '../context.js'
import type { KeyBuilder } from '../keys.js'
import type { CacheMetrics } from '../metrics.js'
import { KEY_NAMESPACES, METRICS_NAMESPACES } from '../namespaces.js'
import { fail, ok, type Failure, type Result, type Success } from '../result.js'
import { sha1 } from '../scripts.js'
import type { Store } from '../store/store.js'
import { ttlOptionMs, ttlToMs } from '../ttl.js'
import { SessionCodec } from './codec.js'
import { SessionCipher, type EncryptionKey } from './crypto.js'
import { SESSION_ID_PATTERN, type Session } from './schema.js'
import { sessionListScript, sessionRevokeScript, sessionScripts, sessionSetScript, sessionTouchScript } from './scripts.js'

/**
 * Write-through session cache with a per-user index.
 *
 * Keys (one user's keys share the hash tag `{<user tag>}`, one Cluster slot):
 *   `<prefix>:sess:{<tag>}:<random>`   the session (string, TTL ≤ expiresAt)
 *   `<prefix>:sess-idx:{<tag>}`        index: sorted set id → expiry (ms)
 *   `<prefix>:sess-rev:{<tag>}`        tombstones: sorted set revoked id → forget-after (ms)
 * The user tag is a keyed hash of the userId, and a session id is
 * `<tag>.<random>`: `get(id)` finds the key from the id alone, one GET.
 *
 * The cache is never the source of truth: every failure is a Result the caller
 * treats as a miss, and a revocation is never undone (tombstones refuse a late
 * re-cache of a revoked id; touch writes back only the value it read).
 *
 * Its store, keys, metrics and log come from a ComponentContext: the plugin
 * passes `fastify.cache.context`; without Fastify,
 * `new SessionCache(new ComponentContext({ store }), { ttl })`.
 */

export interface SessionCacheOptions {
  /** Seconds a session is cached when it has no expiresAt, and the sliding window of touch(). Default 30 days. */
  ttl?: number
  /** Seconds a revoked id stays refused. Default: `ttl`. */
  revocationTtl?: number
  /** Encrypt values at rest (AES-256-GCM): the first key encrypts, all decrypt. */
  encryptionKeys?: readonly EncryptionKey[]
  /** Sessions kept decoded per instance, so a read of unchanged bytes skips parsing and decrypting. Default 1024. */
  decodedMemoSize?: number
}

/** What `set` did: `stored`, or refused because the id was `revoked` or the session had already `expired`. */
export type SetOutcome = 'stored' | 'revoked' | 'expired'

export interface SessionSetOptions {
  /** Seconds to cache it; never past the session's expiresAt. */
  ttl?: number
}

/** What `create` needs: the user, plus any client details known at login. */
export type NewSession = Pick<Session, 'userId'> & Partial<Omit<Session, 'id' | 'userId' | 'createdAt' | 'lastActivityAt'>>

export const DEFAULT_SESSION_TTL = 30 * 24 * 60 * 60
const SESSION_ID = new RegExp(SESSION_ID_PATTERN)
/** Reads and conditional writes a touch may take when other writes keep landing in between. */
const TOUCH_ATTEMPTS = 5

export class SessionCache {
  readonly context: ComponentContext
  readonly store: Store
  readonly keys: KeyBuilder
  readonly metrics: CacheMetrics
  readonly ttlMs: number
  readonly revocationTtlMs: number
  readonly #codec: SessionCodec
  /** The last value decoded per id, so a read of unchanged bytes skips parsing, checking and decrypting. */
  readonly #decoded = new Map<string, { key: string, raw: string, session: Session }>()
  readonly #decodedMemoSize: number
  /** `<prefix>:sess:{`: what the builder puts before a session's tag. */
  readonly #sessionKeyHead: string

  /** Throws TypeError on bad options (TTLs, encryption keys): a configuration error. */
  constructor (context: ComponentContext, options: SessionCacheOptions = {}) {
    this.context = context
    this.store = context.store
    this.keys = context.keys
    this.metrics = context.metrics
    this.ttlMs = ttlOptionMs('SessionCache', 'ttl', options.ttl ?? DEFAULT_SESSION_TTL)
    this.revocationTtlMs = ttlOptionMs('SessionCache', 'revocationTtl', options.revocationTtl ?? this.ttlMs / 1000)
    const keys = options.encryptionKeys ?? []
    this.#codec = new SessionCodec(keys.length === 0 ? undefined : new SessionCipher(keys))
    this.#decodedMemoSize = Math.max(1, options.decodedMemoSize ?? 1024)
    const probe = built(this.keys.tagged(KEY_NAMESPACES.session, 'T', 'R'))
    this.#sessionKeyHead = probe.slice(0, -'T}:R'.length)
  }

  /** Whether values are encrypted at rest. */
  get encrypted (): boolean {
    return this.#codec.encrypted
  }

  /** Loads the scripts ahead of first use (EVALSHA reloads on NOSCRIPT anyway). */
  async loadScripts (): Promise<Result<true>> {
    return await this.store.loadScripts(sessionScripts)
  }

  /** A fresh, unguessable session id for this user: `<user tag>.<192 random bits>`. */
  newId (userId: string): Result<string> {
    const tag = this.#userTag(userId)
    return tag.ok ? ok(tag.value + '.' + randomBytes(24).toString('base64url')) : tag
  }

  /** The Redis key of a session id. */
  keyOf (id: string): Result<string> {
    return isSessionId(id) ? ok(this.#sessionKey(id)) : invalidId()
  }

  /** The Redis key of a user's index. */
  indexKeyOf (userId: string): Result<string> {
    const tag = this.#userTag(userId)
    return tag.ok ? ok(this.#userKeys(tag.value).index) : tag
  }

  /** Builds a session for a login (new id, now as created and last active) and caches it. */
  async create (input: NewSession, options: SessionSetOptions = {}): Promise<Result<Session>> {
    const id = this.newId(input?.userId)
    if (!id.ok) return id
    const now = new Date()
    const session: Session = {
      expiresAt: null,
      ipAddress: null,
      lastIpAddress: input.ipAddress ?? null,
      userAgent: null,
      deviceInfo: null,
      location: null,
      isRevoked: false,
      revokedAt: null,
      revokedReason: null,
      isTrusted: false,
      refreshTokenId: null,
      suspiciousActivityCount: 0,
      lastProviderAccessed: null,
      lastProviderSyncAt: null,
      providersAccessed: [],
      ...definedOnly(input),
      id: id.value,
      userId: input.userId,
      createdAt: now,
      lastActivityAt: now
    }
    const stored = await this.set(session, options)
    if (!stored.ok) return stored
    // a fresh id is never revoked, so the only refusal is an expiresAt in the past
    return stored.value === 'stored' ? ok(session) : fail('INVALID_ARGUMENT', 'expiresAt is in the past: the session would already be expired')
  }

  /**
   * Caches a session and indexes it under its user, atomically. TTL: the given
   * one, else the time left until expiresAt, else the default; never past
   * expiresAt. An expired session is not stored; a revoked id is refused.
   */
  async set (session: Session, options: SessionSetOptions = {}): Promise<Result<SetOutcome>> {
    const encoded = this.#codec.encode(session)
    if (!encoded.ok) return encoded
    // the codec checked the id's form; its tag must be this user's
    const tag = tagOf(session.id)
    if (tag !== this.keys.hash(session.userId)) {
      return fail('INVALID_ARGUMENT', 'session id was not made for this userId: mint ids with newId(userId)')
    }
    const ttl = this.#ttlMs(session, options.ttl)
    if (!ttl.ok) return ttl
    if (ttl.value <= 0) return ok('expired')
    const { index, tombstones } = this.#userKeys(tag)
    const stored = await this.store.runScript(sessionSetScript, [this.#sessionKey(session.id), index, tombstones], [session.id, encoded.value, ttl.value])
    if (!stored.ok) return this.#failed(stored)
    return ok(stored.value ? 'stored' : 'revoked')
  }

  /** The cached session, or null on a miss. One GET. A value that fails to decode is a miss, counted as an error. */
  get (id: string): Promise<Result<Session | null>> {
    // an id decoded before is well-formed and its key known: the hot path skips checking and building both
    const key = this.#decoded.get(id)?.key ?? (isSessionId(id) ? this.#sessionKey(id) : undefined)
    if (key === undefined) return Promise.resolve(invalidId())
    // one promise chain, no extra await: this is the path measured against a raw GET
    return this.store.get(key).then((raw) => {
      if (!raw.ok) return this.#failed(raw)
      if (raw.value === null) {
        this.metrics.miss(METRICS_NAMESPACES.sessions)
        return ok(null)
      }
      const session = this.#decode(id, key, raw.value)
      if (session !== null) this.metrics.hit(METRICS_NAMESPACES.sessions)
      return ok(session)
    })
  }

  async exists (id: string): Promise<Result<boolean>> {
    const key = this.keyOf(id)
    if (!key.ok) return key
    const found = await this.store.exists(key.value)
    return found.ok ? found : this.#failed(found)
  }

  /**
   * Revokes one session: deletes it, removes it from its user's index and
   * tombstones the id (even when nothing was cached). `false` when no cached
   * copy existed.
   */
  async delete (id: string): Promise<Result<boolean>> {
    if (!isSessionId(id)) return invalidId()
    const { index, tombstones } = this.#userKeys(tagOf(id))
    const deleted = await this.store.runScript(sessionRevokeScript, [index, tombstones, this.#sessionKey(id)], [this.revocationTtlMs, id])
    return deleted.ok ? ok(deleted.value === 1) : this.#failed(deleted)
  }

  /** Ids of the user's live sessions, soonest to expire first (pruning expired entries). */
  async getUserSessionIds (userId: string): Promise<Result<string[]>> {
    const tag = this.#userTag(userId)
    return tag.ok ? await this.#list(this.#userKeys(tag.value).index) : tag
  }

  async #list (index: string): Promise<Result<string[]>> {
    const ids = await this.store.runScript(sessionListScript, [index], [])
    return ids.ok ? ids : this.#failed(ids)
  }

  /**
   * Revokes every session of a user but `except`: two round trips whatever the
   * count (list the index, then one script deletes and tombstones them all).
   * A session created while this runs may survive. Answers how many cached
   * sessions were deleted.
   */
  async deleteAllForUser (userId: string, options: { except?: string } = {}): Promise<Result<number>> {
    const { except } = options
    if (except !== undefined && !isSessionId(except)) return invalidId()
    const tag = this.#userTag(userId)
    if (!tag.ok) return tag
    const { index, tombstones } = this.#userKeys(tag.value)
    const ids = await this.#list(index)
    if (!ids.ok) return ids
    const doomed = ids.value.filter((id) => id !== except)
    if (doomed.length === 0) return ok(0)
    const sessions = doomed.map((id) => this.#sessionKey(id))
    const deleted = await this.store.runScript(sessionRevokeScript, [index, tombstones, ...sessions], [this.revocationTtlMs, ...doomed])
    return deleted.ok ? deleted : this.#failed(deleted)
  }

  /**
   * Records activity: lastActivityAt = now (and lastIpAddress when given),
   * sliding the TTL by `ttl`, never past expiresAt. `false` when the session is
   * not cached. Writes back only the value it read, so it never revives a
   * revoked session or overwrites a newer write.
   */
  async touch (id: string, options: { ip?: string } = {}): Promise<Result<boolean>> {
    if (!isSessionId(id)) return invalidId()
    const key = this.#sessionKey(id)
    const { index } = this.#userKeys(tagOf(id))
    for (let attempt = 0; attempt < TOUCH_ATTEMPTS; attempt++) {
      const raw = await this.store.get(key)
      if (!raw.ok) return this.#failed(raw)
      const session = raw.value === null ? null : this.#decode(id, key, raw.value)
      if (session === null) return ok(false)
      const updated: Session = { ...session, lastActivityAt: new Date(), lastIpAddress: options.ip ?? session.lastIpAddress }
      const encoded = this.#codec.encode(updated)
      if (!encoded.ok) return encoded
      const left = updated.expiresAt === null ? this.ttlMs : updated.expiresAt.getTime() - Date.now()
      const ttl = Math.max(1, Math.min(this.ttlMs, left))
      const written = await this.store.runScript(sessionTouchScript, [key, index], [id, sha1(raw.value as string), encoded.value, ttl])
      if (!written.ok) return this.#failed(written)
      if (written.value !== -1) return ok(written.value === 1)
    }
    // others kept writing it in between: it is live, and was just written by them
    return ok(true)
  }

  #userTag (userId: string): Result<string> {
    return this.keys.hashed(userId, 'userId')
  }

  /**
   * Keys of a well-formed id or user tag: their parts are base64url, which the
   * builder neither refuses nor escapes. The session key, on the hot path of
   * get(), is the builder's `tagged(KEY_NAMESPACES.session, tag, random)` joined by hand.
   */
  #sessionKey (id: string): string {
    return this.#sessionKeyHead + tagOf(id) + '}:' + id.slice(TAG_LENGTH + 1)
  }

  #userKeys (tag: string): { index: string, tombstones: string } {
    return {
      index: built(this.keys.tagged(KEY_NAMESPACES.sessionIndex, tag)),
      tombstones: built(this.keys.tagged(KEY_NAMESPACES.sessionTombstones, tag))
    }
  }

  #ttlMs (session: Session, ttl: number | undefined): Result<number> {
    const left = session.expiresAt === null ? Infinity : session.expiresAt.getTime() - Date.now()
    if (ttl === undefined) return ok(Math.min(left, this.ttlMs))
    const given = ttlToMs(ttl)
    return given.ok ? ok(Math.min(left, given.value)) : given
  }

  /** The session, or null (counted, warned) when the stored value cannot be trusted. */
  #decode (id: string, key: string, raw: string): Session | null {
    // decoding is a pure function of (id, bytes): the same bytes as last time decode to the same session.
    // Callers get their own copy, so none can change what another one reads.
    const memo = this.#decoded.get(id)
    if (memo !== undefined && memo.raw === raw) return copySession(memo.session)
    const decoded = this.#codec.decode(id, raw)
    if (decoded.ok) {
      if (memo === undefined && this.#decoded.size >= this.#decodedMemoSize) this.#decoded.delete(this.#decoded.keys().next().value as string)
      this.#decoded.set(id, { key, raw, session: decoded.value })
      return copySession(decoded.value)
    }
    this.context.failed(METRICS_NAMESPACES.sessions, decoded, 'session entry treated as a miss')
    return null
  }

  #failed (failure: Failure): Failure {
    return this.context.failed(METRICS_NAMESPACES.sessions, failure, 'session cache degraded')
  }
}

const TAG_LENGTH = 22

/** A key the builder cannot refuse (its parts are base64url). */
function built (key: Result<string>): string {
  return (key as Success<string>).value
}

function isSessionId (id: unknown): id is string {
  return typeof id === 'string' && SESSION_ID.test(id)
}

/** The user tag of a well-formed session id. */
function tagOf (id: string): string {
  return id.slice(0, TAG_LENGTH)
}

const copyDate = (d: Date | null): Date | null => d === null ? null : new Date(d.getTime())

/** A copy no caller shares: fresh Dates, objects and array (field by field: it is on every read). */
function copySession (s: Session): Session {
  return {
    id: s.id,
    userId: s.userId,
    createdAt: new Date(s.createdAt.getTime()),
    lastActivityAt: new Date(s.lastActivityAt.getTime()),
    expiresAt: copyDate(s.expiresAt),
    ipAddress: s.ipAddress,
    lastIpAddress: s.lastIpAddress,
    userAgent: s.userAgent,
    deviceInfo: s.deviceInfo === null ? null : { ...s.deviceInfo },
    location: s.location === null ? null : { ...s.location },
    isRevoked: s.isRevoked,
    revokedAt: copyDate(s.revokedAt),
    revokedReason: s.revokedReason,
    isTrusted: s.isTrusted,
    refreshTokenId: s.refreshTokenId,
    suspiciousActivityCount: s.suspiciousActivityCount,
    lastProviderAccessed: s.lastProviderAccessed,
    lastProviderSyncAt: copyDate(s.lastProviderSyncAt),
    providersAccessed: s.providersAccessed.slice()
  }
}

function invalidId (): Failure {
  return fail('INVALID_ARGUMENT', 'malformed session id: expected <22-character user tag>.<random>, as made by newId()')
}

/** Drops keys whose value is undefined, so they do not override defaults. */
function definedOnly<T extends object> (input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<T>
}
