import type { Static, TObject } from '@sinclair/typebox'
import { randomBytes } from 'node:crypto'
import type { ComponentContext } from '../context.js'
import type { KeyBuilder } from '../keys.js'
import type { CacheMetrics } from '../metrics.js'
import { KEY_NAMESPACES, METRICS_NAMESPACES } from '../namespaces.js'
import { fail, ok, type Failure, type Result, type Success } from '../result.js'
import { sha1 } from '../scripts.js'
import type { Store } from '../store/store.js'
import { ttlOptionMs, ttlToMs } from '../ttl.js'
import { SchemaCodec, SessionCodec, storedUserId, type Codec } from './codec.js'
import { SessionCipher, type EncryptionKey } from './crypto.js'
import { MAX_SESSION_ID_LENGTH, MINTED_ID_PATTERN, type Session } from './schema.js'
import {
  sessionDeleteScript, sessionIndexAddScript, sessionIndexRemoveScript, sessionListScript, sessionRevokeScript,
  sessionScripts, sessionSetScript, sessionTouchScript
} from './scripts.js'
import { FastifySessionStore, StoreRecordSchema, type FastifySessionStoreOptions, type StoreRecord } from './store.js'

/**
 * Write-through session cache with a per-user index.
 *
 * Keys: a session id is any opaque string (1–256 characters, no control
 * characters). Its key is made from the id alone, so `get(id)` is one GET:
 *   `<prefix>:sess:{<id>}`                the session (string, TTL ≤ its absolute expiry)
 *   `<prefix>:sess-rev:{<id>}`            its tombstone (string, lives the revocation window)
 *   `<prefix>:sess-idx:{<user tag>}`      the user's index: sorted set id → expiry (ms)
 * An id minted by `newId(userId)` is `<user tag>.<random>` and its keys are
 * `…:{<user tag>}:<random>`: the session, its tombstone and its user's index
 * share one Cluster slot, so a write or a revocation is one script there too.
 * Any other id lives in a slot of its own; on a Cluster its index entry is
 * then a second step, written before the session (never a session that
 * deleteAllForUser cannot find).
 *
 * The cache is never the source of truth: every failure is a Result the caller
 * treats as a miss, and a revocation is never undone (a tombstone refuses a
 * re-cache of a revoked id within the revocation window; touch writes back
 * only the value it read).
 *
 * Its store, keys, metrics and log come from a ComponentContext: the plugin
 * passes `fastify.cache.context`; without Fastify,
 * `new SessionCache(new ComponentContext({ store }), { ttl })`.
 */

export interface SessionCacheOptions {
  /** Seconds a session lives after createdAt when it has no expiresAt, and the sliding window of touch(). Default 30 days. */
  ttl?: number
  /**
   * Seconds a revoked id stays refused: longer than any request that read a
   * session before its revocation may take to write it back. Default 300.
   */
  revocationWindow?: number
  /** Encrypt values at rest (AES-256-GCM): the first key encrypts, all decrypt. */
  encryptionKeys?: readonly EncryptionKey[]
  /**
   * Sessions kept decoded per instance, so a read of unchanged bytes skips
   * parsing and decrypting; also how many ids a sliding cache (setSliding)
   * remembers the stored bytes of. Default 1024.
   */
  decodedMemoSize?: number
}

/**
 * What the cache reads of any session record: its `id`; `userId` (a string
 * indexes it under that user; null or absent: nobody's yet); `createdAt` and
 * `expiresAt` for its absolute expiry; `lastActivityAt` and `lastIpAddress`,
 * which touch() updates when the record has them.
 */
export interface SessionRecord {
  id: string
  userId?: string | null
  createdAt?: Date
  expiresAt?: Date | null
  lastActivityAt?: Date
  lastIpAddress?: string | null
}

/** What `set` did: `stored`, or refused because the id was `revoked` or the session had already `expired`. */
export type SetOutcome = 'stored' | 'revoked' | 'expired'

export interface SessionSetOptions {
  /** Seconds to cache it; never past the session's absolute expiry. */
  ttl?: number
}

export interface SessionTouchOptions {
  /** The request's address: becomes `lastIpAddress` (when the record has one). */
  ip?: string
  /** A new absolute expiry (a rolling cookie's): the session lives until then, even past the sliding window. */
  expiresAt?: Date
}

/** What `create` needs: the user, plus any client details known at login. */
export type NewSession = Pick<Session, 'userId'> & Partial<Omit<Session, 'id' | 'userId' | 'createdAt' | 'lastActivityAt'>>

export const DEFAULT_SESSION_TTL = 30 * 24 * 60 * 60
export const DEFAULT_REVOCATION_WINDOW = 300
const MINTED_ID = new RegExp(MINTED_ID_PATTERN)
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/
/** Reads and conditional writes a touch may take when other writes keep landing in between. */
const TOUCH_ATTEMPTS = 5
const TAG_LENGTH = 22

interface Memo<T> { key: string, raw: string, session: T }
/** What a sliding cache last knew to be stored under an id: the bytes, their user, the key's expiry (ms). */
interface Seen { key: string, raw: string, userId: string | null, expiresAt: number }

/** Sets `key` in a map kept to `max` entries: a new key at the bound pushes out the oldest (insertion order). */
function setBounded<K, V> (map: Map<K, V>, key: K, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) map.delete(map.keys().next().value as K)
  map.set(key, value)
}

/** A sliding save keeps a session up to this much past the expiry it asked for… */
export const SLIDING_HEADROOM_MAX_MS = 60_000
/** …and never more than this fraction of its life. */
const SLIDING_HEADROOM_SHARE = 100

export class SessionCache<T extends SessionRecord = Session> {
  readonly context: ComponentContext
  readonly store: Store
  readonly keys: KeyBuilder
  readonly metrics: CacheMetrics
  readonly ttlMs: number
  readonly revocationWindowMs: number
  readonly #options: SessionCacheOptions
  readonly #cipher: SessionCipher | undefined
  readonly #codec: Codec<T>
  /** Copies a decoded session for a caller; null: no memo (the codec makes a fresh object on every read). */
  readonly #copy: ((s: T) => T) | null
  /** The last value decoded per id, so a read of unchanged bytes skips parsing, checking and decrypting. */
  readonly #decoded = new Map<string, Memo<T>>()
  readonly #decodedMemoSize: number
  readonly #tags = new Map<string, string>()
  /** Sliding caches only (made on the first setSliding): what each id was last seen to hold. */
  #seen: Map<string, Seen> | undefined
  /** Redis refused `SET … XX KEEPTTL GET` (older than 6.2): sliding saves are full writes. */
  #replaceRefused = false
  /** `<prefix>:sess:{` and `<prefix>:sess-rev:{`: what the builder puts before a minted id's tag. */
  readonly #sessionKeyHead: string
  readonly #tombstoneKeyHead: string
  #storeView: SessionCache<StoreRecord> | undefined

  /** Throws TypeError on bad options (TTLs, encryption keys): a configuration error. */
  constructor (context: ComponentContext, options: SessionCacheOptions = {}, schema?: TObject) {
    this.context = context
    this.store = context.store
    this.keys = context.keys
    this.metrics = context.metrics
    this.#options = options
    this.ttlMs = ttlOptionMs('SessionCache', 'ttl', options.ttl ?? DEFAULT_SESSION_TTL)
    this.revocationWindowMs = ttlOptionMs('SessionCache', 'revocationWindow', options.revocationWindow ?? DEFAULT_REVOCATION_WINDOW)
    const keys = options.encryptionKeys ?? []
    this.#cipher = keys.length === 0 ? undefined : new SessionCipher(keys)
    if (schema === undefined) {
      this.#codec = new SessionCodec(this.#cipher) as unknown as Codec<T>
      this.#copy = copySession as unknown as (s: T) => T
    } else {
      this.#codec = new SchemaCodec<T>(schema, this.#cipher)
      this.#copy = null
    }
    this.#decodedMemoSize = Math.max(1, options.decodedMemoSize ?? 1024)
    this.#sessionKeyHead = built(this.keys.tagged(KEY_NAMESPACES.session, 'T', 'R')).slice(0, -'T}:R'.length)
    this.#tombstoneKeyHead = built(this.keys.tagged(KEY_NAMESPACES.sessionTombstones, 'T', 'R')).slice(0, -'T}:R'.length)
  }

  /**
   * The same cache (store, keys, options) over a session schema of your own:
   * any TypeBox object with a string `id`; `userId`, `createdAt`,
   * `expiresAt`, `lastActivityAt` and `lastIpAddress` are used when present
   * (see SessionRecord). Every field round-trips, Dates as Dates; a value that
   * fails the schema is INVALID_ARGUMENT on write, a miss on read. Throws
   * TypeError on a schema without a string `id`.
   */
  withSchema<S extends TObject> (schema: S): SessionCache<Static<S> & SessionRecord> {
    return new SessionCache<Static<S> & SessionRecord>(this.context, this.#options, schema)
  }

  /**
   * A store for `@fastify/session` (and any express-session-style consumer of
   * get/set/destroy/touch with callbacks) over this cache: sessions of any
   * shape, before and after login; once `userIdOf(session)` names a user, the
   * session joins that user's index, so `deleteAllForUser(user)` logs every
   * browser out.
   */
  fastifySessionStore (options: FastifySessionStoreOptions = {}): FastifySessionStore {
    this.#storeView ??= this.withSchema(StoreRecordSchema)
    return new FastifySessionStore(this.#storeView, options)
  }

  /** Whether values are encrypted at rest. */
  get encrypted (): boolean {
    return this.#codec.encrypted
  }

  /** Loads the scripts ahead of first use (EVALSHA reloads on NOSCRIPT anyway). */
  async loadScripts (): Promise<Result<true>> {
    return await this.store.loadScripts(sessionScripts)
  }

  /**
   * A fresh, unguessable session id for this user: `<user tag>.<192 random
   * bits>`. Optional: any id works; this one puts the session in its user's
   * Cluster slot, so a write there is one script instead of two.
   */
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
    return tag.ok ? ok(this.#indexKey(tag.value)) : tag
  }

  /**
   * Builds a session for a login (new id unless `id` is given, now as created
   * and last active, expiresAt = createdAt + ttl unless given) and caches it.
   */
  async create (this: SessionCache<Session>, input: NewSession & { id?: string }, options: SessionSetOptions = {}): Promise<Result<Session>> {
    const id = input?.id === undefined ? this.newId(input?.userId) : ok(input.id)
    if (!id.ok) return id
    const now = new Date()
    const session: Session = {
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
      expiresAt: input.expiresAt ?? new Date(now.getTime() + this.ttlMs),
      id: id.value,
      userId: input.userId,
      createdAt: now,
      lastActivityAt: now
    }
    const stored = await this.set(session, options)
    if (!stored.ok) return stored
    if (stored.value === 'revoked') return fail('INVALID_ARGUMENT', 'this session id was revoked: mint a new one')
    return stored.value === 'stored' ? ok(session) : fail('INVALID_ARGUMENT', 'expiresAt is in the past: the session would already be expired')
  }

  /**
   * Caches a session and indexes it under its user (atomically, or index
   * first where a Cluster puts them in different slots). Its absolute expiry
   * is expiresAt, else createdAt + ttl (written into expiresAt when the record
   * has that field). TTL: the given one, else the `ttl` option; never past the
   * absolute expiry. An expired session is not stored; a revoked id is refused.
   */
  async set (session: T, options: SessionSetOptions = {}): Promise<Result<SetOutcome>> {
    if (!isSessionId(session?.id)) return invalidId()
    const userTag = this.#userTagOf(session)
    if (!userTag.ok) return userTag
    const now = Date.now()
    const expiresAt = session.expiresAt ?? new Date((session.createdAt?.getTime() ?? now) + this.ttlMs)
    const record = session.expiresAt === null ? { ...session, expiresAt } : session
    const encoded = this.#codec.encode(record)
    if (!encoded.ok) return encoded
    let ttl = this.ttlMs
    if (options.ttl !== undefined) {
      const given = ttlToMs(options.ttl)
      if (!given.ok) return given
      ttl = given.value
    }
    ttl = Math.min(ttl, expiresAt.getTime() - now)
    if (ttl <= 0) return ok('expired')
    return await this.#write(session.id, userTag.value, encoded.value, ttl)
  }

  /**
   * The write behind `set`: the session and its index entry, refused when
   * the id is tombstoned. One script, or index first where a Cluster puts
   * them in different slots.
   */
  async #write (id: string, userTag: string | null, encoded: string, ttl: number): Promise<Result<SetOutcome>> {
    const keys = [this.#sessionKey(id), this.#tombstoneKey(id)]
    const index = userTag === null ? undefined : this.#indexKey(userTag)
    if (index !== undefined && !this.#sameSlot(id, userTag as string)) {
      // a Cluster, the index in another slot: the entry first, so no session is cached that delete-all cannot find
      const added = await this.store.runScript(sessionIndexAddScript, [index], [id, ttl])
      if (!added.ok) return this.#failed(added)
      const stored = await this.store.runScript(sessionSetScript, keys, [id, encoded, ttl])
      if (!stored.ok) return this.#failed(stored)
      if (stored.value) return ok('stored')
      const removed = await this.store.runScript(sessionIndexRemoveScript, [index], [id])
      return removed.ok ? ok('revoked') : this.#failed(removed)
    }
    if (index !== undefined) keys.push(index)
    const stored = await this.store.runScript(sessionSetScript, keys, [id, encoded, ttl])
    if (!stored.ok) return this.#failed(stored)
    return ok(stored.value ? 'stored' : 'revoked')
  }

  /**
   * `set` for a session whose expiry moves with every save (the
   * @fastify/session store's: each save's cookie expires `maxAge` from now).
   * The record's `expiresAt` is the least it must live; it is stored with a
   * headroom (1% of its life, at most a minute) and that is the expiry the
   * stored record and its index entry carry. A later save of the same id, by
   * the same user, whose expiry still falls within what is stored, needs no
   * script and no index write: one `SET … XX KEEPTTL GET` replaces the value
   * if the key is still there (a revoked or expired session is not, so it
   * cannot come back this way), keeping the expiry its index entry matches.
   * Anything else — a first save, another user, a later expiry, a key gone,
   * or a value changed by another writer since this instance last saw it —
   * is a full `set`, tombstone check and index included.
   */
  async setSliding (record: T): Promise<Result<SetOutcome>> {
    if (!isSessionId(record?.id)) return invalidId()
    const until = record.expiresAt?.getTime()
    if (until === undefined || Number.isNaN(until)) return fail('INVALID_ARGUMENT', 'setSliding needs the expiresAt the session must live until')
    const seenById = this.#seen ??= new Map()
    const id = record.id
    const userId = record.userId ?? null
    const now = Date.now()
    if (until <= now) return ok('expired')
    const seen = seenById.get(id)
    if (seen !== undefined && seen.userId === userId && until <= seen.expiresAt && !this.#replaceRefused) {
      const encoded = this.#codec.encode({ ...record, expiresAt: new Date(seen.expiresAt) })
      if (!encoded.ok) return encoded
      const expected = seen.raw
      seen.raw = encoded.value // what the next save on this instance will find there
      const replaced = await this.store.replace(seen.key, encoded.value)
      // exactly what this instance last saw: same user, same expiry, so its index entry already matches
      if (replaced.ok && replaced.value === expected) return ok('stored')
      // gone (revoked or expired), written by someone else in between, or the replace failed (whether or not it
      // ran): the full write decides, tombstone check included. A Redis that refuses the command itself (before
      // 6.2, SET has no GET) is not asked again: every save is the full write there.
      if (!replaced.ok) {
        this.#failed(replaced)
        if (replaced.error.code === 'INTERNAL') this.#replaceRefused = true
      }
    }
    const userTag = this.#userTagOf(record)
    if (!userTag.ok) return userTag
    const expiresAt = Math.min(until + Math.min(SLIDING_HEADROOM_MAX_MS, Math.floor((until - now) / SLIDING_HEADROOM_SHARE)), now + this.ttlMs)
    const encoded = this.#codec.encode({ ...record, expiresAt: new Date(expiresAt) })
    if (!encoded.ok) return encoded
    const key = this.#sessionKey(id)
    const stored = await this.#write(id, userTag.value, encoded.value, expiresAt - now)
    if (stored.ok && stored.value === 'stored') this.#see(seenById, id, key, encoded.value, userId, expiresAt)
    else seenById.delete(id)
    return stored
  }

  /** Remembers what an id holds, for the next sliding save (bounded: the oldest entry goes first). */
  #see (seenById: Map<string, Seen>, id: string, key: string, raw: string, userId: string | null, expiresAt: number): void {
    const seen = seenById.get(id)
    if (seen !== undefined) {
      seen.raw = raw
      seen.userId = userId
      seen.expiresAt = expiresAt
      return
    }
    setBounded(seenById, id, { key, raw, userId, expiresAt }, this.#decodedMemoSize)
  }

  /** The cached session, or null on a miss. One GET. A value that fails to decode is a miss, counted as an error. */
  get (id: string): Promise<Result<T | null>> {
    // an id decoded before is well-formed and its key known: the hot path skips checking and building both
    const key = (this.#decoded.get(id) ?? this.#seen?.get(id))?.key ?? (isSessionId(id) ? this.#sessionKey(id) : undefined)
    if (key === undefined) return Promise.resolve(invalidId())
    // one promise chain, no extra await: this is the path measured against a raw GET
    return this.store.get(key).then((raw) => {
      if (!raw.ok) return this.#failed(raw)
      if (raw.value === null) {
        this.metrics.miss(METRICS_NAMESPACES.sessions)
        return ok(null)
      }
      const session = this.#decode(id, key, raw.value)
      if (session === null) return ok(null)
      this.metrics.hit(METRICS_NAMESPACES.sessions)
      // a sliding cache learns what an id holds from its first read here; after that from its own writes,
      // whose order on the connection is the order Redis sees (a read's answer may be older than a write sent)
      const seen = this.#seen
      if (seen !== undefined && !seen.has(id) && session.expiresAt instanceof Date) {
        this.#see(seen, id, key, raw.value, session.userId ?? null, session.expiresAt.getTime())
      }
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
   * Revokes one session: deletes it, tombstones the id for the revocation
   * window (even when nothing was cached: a request that read it from your
   * database before the revocation cannot re-cache it), and takes it out of
   * its user's index: `userId`'s when given, else the one in the cached value.
   * `false` when no cached copy existed.
   */
  async delete (id: string, options: { userId?: string } = {}): Promise<Result<boolean>> {
    if (!isSessionId(id)) return invalidId()
    const given = options.userId === undefined ? ok(undefined) : this.#userTag(options.userId)
    if (!given.ok) return given
    const old = await this.store.runScript(sessionDeleteScript, [this.#sessionKey(id), this.#tombstoneKey(id)], [this.revocationWindowMs])
    if (!old.ok) return this.#failed(old)
    this.#decoded.delete(id)
    this.#seen?.delete(id)
    // the user: the caller's, else the one in the value, whichever schema wrote it
    // (a value that cannot be read, of a user not given, leaves an index entry that expires with it)
    const userId = options.userId ?? (old.value === null ? undefined : storedUserId(id, old.value, this.#cipher))
    if (userId !== undefined) {
      const removed = await this.store.runScript(sessionIndexRemoveScript, [this.#indexKey(this.keys.hash(userId))], [id])
      if (!removed.ok) return this.#failed(removed)
    }
    return ok(old.value !== null)
  }

  /** Ids of the user's live sessions, soonest to expire first (pruning expired entries). */
  async getUserSessionIds (userId: string): Promise<Result<string[]>> {
    const tag = this.#userTag(userId)
    return tag.ok ? await this.#list(this.#indexKey(tag.value)) : tag
  }

  async #list (index: string): Promise<Result<string[]>> {
    const ids = await this.store.runScript(sessionListScript, [index], [])
    return ids.ok ? ids : this.#failed(ids)
  }

  /**
   * Revokes every session the user had when the call began, but `except`:
   * deletes each, tombstones it and empties the index. Two round trips on a
   * single node whatever the count (list, then one script); on a Cluster one
   * more, the ids in other slots going out in one wave (all sent before any
   * answer is awaited) before the index is emptied. Answers how many cached
   * sessions were deleted.
   */
  async deleteAllForUser (userId: string, options: { except?: string } = {}): Promise<Result<number>> {
    const { except } = options
    if (except !== undefined && !isSessionId(except)) return invalidId()
    const tag = this.#userTag(userId)
    if (!tag.ok) return tag
    const index = this.#indexKey(tag.value)
    const ids = await this.#list(index)
    if (!ids.ok) return ids
    const doomed = ids.value.filter((id) => id !== except)
    if (doomed.length === 0) return ok(0)
    const together: string[] = []
    const apart: string[] = []
    for (const id of doomed) (this.#sameSlot(id, tag.value) ? together : apart).push(id)
    let deleted = 0
    if (apart.length > 0) {
      const each = await Promise.all(apart.map(async (id) =>
        await this.store.runScript(sessionRevokeScript, [this.#sessionKey(id), this.#tombstoneKey(id)], [this.revocationWindowMs, id])))
      for (const r of each) {
        if (!r.ok) return this.#failed(r)
        deleted += r.value
      }
    }
    const keys: string[] = []
    for (const id of together) keys.push(this.#sessionKey(id), this.#tombstoneKey(id))
    keys.push(index)
    const last = await this.store.runScript(sessionRevokeScript, keys, [this.revocationWindowMs, ...together, ...apart])
    if (!last.ok) return this.#failed(last)
    for (const id of doomed) { this.#decoded.delete(id); this.#seen?.delete(id) }
    return ok(deleted + last.value)
  }

  /**
   * Records activity: lastActivityAt = now and lastIpAddress = `ip` (where
   * the record has them), sliding the TTL by the `ttl` option, never past its
   * absolute expiry (or moving that expiry to `expiresAt` when given). `false`
   * when the session is not cached. Writes back only the value it read, so it
   * never revives a revoked session or overwrites a newer write.
   */
  async touch (id: string, options: SessionTouchOptions = {}): Promise<Result<boolean>> {
    if (!isSessionId(id)) return invalidId()
    const key = this.#sessionKey(id)
    for (let attempt = 0; attempt < TOUCH_ATTEMPTS; attempt++) {
      const raw = await this.store.get(key)
      if (!raw.ok) return this.#failed(raw)
      const session = raw.value === null ? null : this.#decode(id, key, raw.value)
      if (session === null) return ok(false)
      const updated: T = { ...session }
      if ('lastActivityAt' in updated) updated.lastActivityAt = new Date()
      if ('lastIpAddress' in updated && options.ip !== undefined) updated.lastIpAddress = options.ip
      if (options.expiresAt !== undefined) updated.expiresAt = options.expiresAt
      const encoded = this.#codec.encode(updated)
      if (!encoded.ok) return encoded
      const until = updated.expiresAt?.getTime() ?? Infinity
      const ttl = options.expiresAt !== undefined ? until - Date.now() : Math.min(this.ttlMs, until - Date.now())
      if (ttl <= 0) return ok(false)
      // its userId was checked when it was stored
      const tag = typeof updated.userId === 'string' ? this.keys.hash(updated.userId) : null
      const together = tag !== null && this.#sameSlot(id, tag)
      const keys = together ? [key, this.#indexKey(tag)] : [key]
      const written = await this.store.runScript(sessionTouchScript, keys, [id, sha1(raw.value as string), encoded.value, Math.ceil(ttl)])
      if (!written.ok) return this.#failed(written)
      if (written.value === -1) continue
      if (written.value === 1 && tag !== null && !together) {
        const slid = await this.store.runScript(sessionIndexAddScript, [this.#indexKey(tag)], [id, Math.ceil(ttl)])
        if (!slid.ok) return this.#failed(slid)
      }
      return ok(written.value === 1)
    }
    // others kept writing it in between: it is live, and was just written by them
    return ok(true)
  }

  /** The user's tag (a keyed hash), remembered for the last users seen: every write of a signed-in session needs it. */
  #userTag (userId: string): Result<string> {
    const known = this.#tags.get(userId)
    if (known !== undefined) return ok(known)
    const tag = this.keys.hashed(userId, 'userId')
    if (tag.ok) {
      setBounded(this.#tags, userId, tag.value, this.#decodedMemoSize)
    }
    return tag
  }

  /** The tag of the record's user, null when it has none yet. */
  #userTagOf (session: T): Result<string | null> {
    const userId = session.userId
    return userId === null || userId === undefined ? ok(null) : this.#userTag(userId)
  }

  /** Whether a session and its user's index may go in one script: a single node, or one Cluster slot. */
  #sameSlot (id: string, userTag: string): boolean {
    return !this.store.cluster || (MINTED_ID.test(id) && id.slice(0, TAG_LENGTH) === userTag)
  }

  /**
   * The key of a well-formed id: a minted one's parts are base64url, which
   * the builder neither refuses nor escapes, so it is joined by hand (on the
   * hot path of get()); any other id is the builder's hash tag.
   */
  #sessionKey (id: string): string {
    return MINTED_ID.test(id)
      ? this.#sessionKeyHead + id.slice(0, TAG_LENGTH) + '}:' + id.slice(TAG_LENGTH + 1)
      : built(this.keys.tagged(KEY_NAMESPACES.session, id))
  }

  #tombstoneKey (id: string): string {
    return MINTED_ID.test(id)
      ? this.#tombstoneKeyHead + id.slice(0, TAG_LENGTH) + '}:' + id.slice(TAG_LENGTH + 1)
      : built(this.keys.tagged(KEY_NAMESPACES.sessionTombstones, id))
  }

  #indexKey (userTag: string): string {
    return built(this.keys.tagged(KEY_NAMESPACES.sessionIndex, userTag))
  }

  /** The session, or null (counted, warned) when the stored value cannot be trusted. */
  #decode (id: string, key: string, raw: string): T | null {
    const copy = this.#copy
    if (copy === null) {
      const decoded = this.#codec.decode(id, raw)
      if (decoded.ok) return decoded.value
      this.context.failed(METRICS_NAMESPACES.sessions, decoded, 'session entry treated as a miss')
      return null
    }
    // decoding is a pure function of (id, bytes): the same bytes as last time decode to the same session.
    // Callers get their own copy, so none can change what another one reads.
    const memo = this.#decoded.get(id)
    if (memo !== undefined && memo.raw === raw) return copy(memo.session)
    const decoded = this.#codec.decode(id, raw)
    if (decoded.ok) {
      setBounded(this.#decoded, id, { key, raw, session: decoded.value }, this.#decodedMemoSize)
      return copy(decoded.value)
    }
    this.context.failed(METRICS_NAMESPACES.sessions, decoded, 'session entry treated as a miss')
    return null
  }

  #failed (failure: Failure): Failure {
    return this.context.failed(METRICS_NAMESPACES.sessions, failure, 'session cache degraded')
  }
}

/** A key the builder cannot refuse (its parts are checked ids or base64url). */
function built (key: Result<string>): string {
  return (key as Success<string>).value
}

/** 1 to 256 characters, no control characters. */
export function isSessionId (id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_SESSION_ID_LENGTH && !CONTROL.test(id)
}

const copyDate = (d: Date | null): Date | null => d === null ? null : new Date(d.getTime())

/** A copy no caller shares: fresh Dates, objects and array (field by field: it is on every read). */
function copySession (s: Session): Session {
  const copy: Session = {
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
  if (s.data !== undefined) copy.data = structuredClone(s.data)
  return copy
}

function invalidId (): Failure {
  return fail('INVALID_ARGUMENT', `malformed session id: expected 1 to ${MAX_SESSION_ID_LENGTH} characters without control characters`)
}

/** Drops keys whose value is undefined, so they do not override defaults. */
function definedOnly<T extends object> (input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<T>
}
