import { createHmac } from 'node:crypto'
import { DEFAULT_NAMESPACE } from './namespaces.js'
import { fail, ok, type Failure, type Result } from './result.js'

/**
 * How many identifiers' hashes a key builder remembers (`hash`): the same
 * clients come back (a rate limiter hashes each request's identity), and an
 * HMAC per call is a measurable share of a hot path.
 */
export const HASH_MEMO_SIZE = 10_000

/**
 * The one place Redis keys are made: `<prefix>:<namespace>:<parts…>`.
 *
 * Parts are escaped so that a part can never forge a separator (`:`), a Cluster
 * hash tag (`{…}`) or a SCAN glob, and identifiers marked personal are replaced
 * by a keyed hash so an email or IP is never written to Redis in clear.
 */

/** A part that may be personal data: it enters the key as a keyed hash. */
export interface PersonalPart { readonly personal: string }
export type KeyPart = string | number | PersonalPart

export function personal (value: string): PersonalPart {
  return { personal: value }
}

export interface KeyBuilderOptions {
  /** First segment of every key (`CACHE_KEY_PREFIX`). */
  prefix?: string
  /** Secret for hashing personal parts; instances sharing a Redis must share it. */
  hashSecret?: string
  /** Longest accepted part, in characters, before escaping. */
  maxPartLength?: number
}

export const DEFAULT_PREFIX = 'cachekit'
/** What a prefix (and a namespace) may be: also the option schemas' pattern for `prefix`. */
export const NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$'

export const DEFAULT_HASH_SECRET = 'cachekit-default-hash-secret'
const NAME = new RegExp(NAME_PATTERN)
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/
const SPECIAL = /[%:{}*?[\]\\]/g

/** Anything that makes a part other than plain: a control character (refused) or a special one (escaped). */
const PLAIN_NOT = new RegExp(`${CONTROL.source}|${SPECIAL.source}`)

function escapePart (part: string): string {
  return part.replace(SPECIAL, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'))
}

export class KeyBuilder {
  readonly prefix: string
  readonly #secret: string
  readonly #hashes = new Map<string, string>()
  readonly #maxPartLength: number
  /** `<prefix>:`, made once: a raw key is one concatenation. */
  readonly #rawPrefix: string

  constructor (options: KeyBuilderOptions = {}) {
    const prefix = options.prefix ?? DEFAULT_PREFIX
    if (!NAME.test(prefix)) {
      throw new TypeError(`key prefix must match ${String(NAME)}, got ${JSON.stringify(prefix)}`)
    }
    this.prefix = prefix
    this.#secret = options.hashSecret ?? DEFAULT_HASH_SECRET
    this.#maxPartLength = options.maxPartLength ?? 512
    this.#rawPrefix = prefix + ':'
  }

  /** `<prefix>:<namespace>:<parts…>` */
  key (namespace: string, ...parts: KeyPart[]): Result<string> {
    return this.#join(namespace, parts, undefined)
  }

  /**
   * `<prefix>:<namespace>:{<tag>}:<parts…>`: keys built with the same namespace
   * and tag land in one Cluster slot, so one script or transaction may touch them.
   */
  tagged (namespace: string, tag: KeyPart, ...parts: KeyPart[]): Result<string> {
    return this.#join(namespace, parts, tag)
  }

  /** `<base>:<parts…>`: a key built earlier, extended by more (escaped) parts. */
  extend (base: string, ...parts: KeyPart[]): Result<string> {
    let out = base
    for (const part of parts) {
      const p = this.#part(part)
      if (!p.ok) return p
      out += ':' + p.value
    }
    return ok(out)
  }

  /** A SCAN glob for every key under `<prefix>:<namespace>:<parts…>:`. */
  pattern (namespace: string, ...parts: KeyPart[]): Result<string> {
    const base = this.#join(namespace, parts, undefined)
    return base.ok ? ok(base.value + ':*') : base
  }

  /** A glob matching every key this builder can make. */
  get everything (): string {
    return this.prefix + ':*'
  }

  /**
   * A caller-chosen key such as `users:42` under the prefix. The caller owns its
   * separators; the key is only checked (non-empty, no control characters, bounded).
   */
  raw (key: string): Result<string> {
    const full = this.rawKey(key)
    return full === null ? this.#check(key, 'key', this.#maxPartLength * 4) as Failure : ok(full)
  }

  /** `raw` for the hot path: the full key, or null when the key is invalid. */
  rawKey (key: string): string | null {
    return typeof key === 'string' && key.length > 0 && key.length <= this.#maxPartLength * 4 && !CONTROL.test(key)
      ? this.#rawPrefix + key
      : null
  }

  /** The namespace of a full key, for per-namespace metrics. */
  namespaceOf (fullKey: string): string {
    const start = this.prefix.length + 1
    const end = fullKey.indexOf(':', start)
    return end === -1 ? DEFAULT_NAMESPACE : fullKey.slice(start, end)
  }

  /**
   * What a personal part becomes, after the same checks (`what` names it in the
   * error): for callers that put one identifier into several keys and would
   * otherwise hash it once per key.
   */
  hashed (value: string, what = 'personal key part'): Result<string> {
    const checked = this.#check(value, what, this.#maxPartLength)
    return checked.ok ? ok(this.hash(value)) : checked
  }

  /**
   * Keyed hash of an identifier: stable across instances sharing the secret.
   * The same identifiers come back request after request (a client's IP, a
   * user id), and an HMAC costs microseconds, so the latest few thousand are
   * remembered (the memo starts over when full: bounded, no LRU bookkeeping).
   */
  hash (value: string): string {
    let hashed = this.#hashes.get(value)
    if (hashed === undefined) {
      hashed = createHmac('sha256', this.#secret).update(value).digest('base64url').slice(0, 22)
      if (this.#hashes.size >= HASH_MEMO_SIZE) this.#hashes.clear()
      this.#hashes.set(value, hashed)
    }
    return hashed
  }

  #join (namespace: string, parts: KeyPart[], tag: KeyPart | undefined): Result<string> {
    if (!NAME.test(namespace)) {
      return fail('INVALID_ARGUMENT', `namespace must match ${String(NAME)}, got ${JSON.stringify(namespace)}`)
    }
    let out = this.prefix + ':' + namespace
    if (tag !== undefined) {
      const t = this.#part(tag)
      if (!t.ok) return t
      out += ':{' + t.value + '}'
    }
    for (const part of parts) {
      const p = this.#part(part)
      if (!p.ok) return p
      out += ':' + p.value
    }
    return ok(out)
  }

  #part (part: KeyPart): Result<string> {
    // the common case in one test: a plain string, nothing to refuse or escape
    if (typeof part === 'string' && part.length > 0 && part.length <= this.#maxPartLength && !PLAIN_NOT.test(part)) return ok(part)
    if (typeof part === 'number') {
      return Number.isFinite(part) ? ok(String(part)) : fail('INVALID_ARGUMENT', `key part must be a finite number, got ${part}`)
    }
    if (typeof part === 'object' && part !== null && typeof part.personal === 'string') return this.hashed(part.personal)
    if (typeof part !== 'string') {
      return fail('INVALID_ARGUMENT', `key part must be a string or number, got ${typeof part}`)
    }
    const checked = this.#check(part, 'key part', this.#maxPartLength)
    return checked.ok ? ok(escapePart(part)) : checked
  }

  #check (value: string, what: string, max: number): Result<true> {
    if (typeof value !== 'string' || value.length === 0) return fail('INVALID_ARGUMENT', `${what} must be a non-empty string`)
    if (value.length > max) return fail('INVALID_ARGUMENT', `${what} is longer than ${max} characters`)
    if (CONTROL.test(value)) return fail('INVALID_ARGUMENT', `${what} must not contain control characters`)
    return ok(true)
  }
}
