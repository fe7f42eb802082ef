import { Kind, type TObject, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck, type ValueError, type ValueErrorIterator } from '@sinclair/typebox/compiler'
import { fail, ok, type Result } from '../result.js'
import type { SessionCipher } from './crypto.js'
import { fromJsonData, hasMarkers, toJsonData } from './json.js'
import { fromStored, SessionSchema, STORED_FIELDS, StoredSessionSchema, toStored, type Session, type StoredSession } from './schema.js'

/**
 * Session ⇄ stored string: the record as JSON, sealed when a cipher is given.
 * Writing checks the session against its schema (a caller's mistake is
 * INVALID_ARGUMENT); reading checks the record (anything else is DECODE, which
 * the session cache treats as a counted miss).
 *
 * Two forms: the default schema is stored as a positional array (it parses
 * about twice as fast as the same record keyed by name); a schema of the
 * user's own as `[3, <the record as toJsonData wrote it>]`, its top-level
 * Date fields as epoch milliseconds.
 */

export interface Codec<T> {
  readonly encrypted: boolean
  /** Checks the record and encodes it for storage under its id. */
  encode (record: T): Result<string>
  /** The record stored under `id`, or DECODE when it fails to open, parse or match the schema. */
  decode (id: string, stored: string): Result<T>
}

/**
 * Where a failed check failed, by field name. Called only after a failed
 * check, so there is always a first error. `fields` names the stored array's
 * positions (0 is the format number).
 */
function firstError (errors: ValueErrorIterator, fields?: readonly string[]): string {
  const e = errors.First() as ValueError
  const [top, ...rest] = e.path.slice(1).split('/') // top is '' at the root
  const name = top === '' ? 'session' : fields === undefined ? top : fields[Number(top)]
  const hint = e.message.includes('Unexpected property') ? ' (free-form values go in data, or register a schema of your own)' : ''
  return `${[name, ...rest].join('.')}: ${e.message}${hint}`
}

abstract class Sealed {
  readonly #cipher: SessionCipher | undefined

  constructor (cipher?: SessionCipher) {
    this.#cipher = cipher
  }

  get encrypted (): boolean {
    return this.#cipher !== undefined
  }

  protected seal (json: string, id: string): string {
    return this.#cipher === undefined ? json : this.#cipher.encrypt(json, id)
  }

  /** The JSON stored under `id` and its value, or a DECODE failure. */
  protected open (id: string, stored: string): Result<{ json: string, value: unknown }> {
    let json = stored
    if (this.#cipher !== undefined) {
      const opened = this.#cipher.decrypt(stored, id)
      if (opened === null) return fail('DECODE', 'session value does not authenticate (tampered, unknown key, or not encrypted)')
      json = opened
    }
    try {
      return ok({ json, value: JSON.parse(json) })
    } catch {
      return fail('DECODE', 'session value is not JSON (encrypted with encryption off, or corrupt)')
    }
  }
}

const sessionCheck = TypeCompiler.Compile(SessionSchema)
const storedCheck = TypeCompiler.Compile(StoredSessionSchema)
const STORED_NAMES = ['format', ...STORED_FIELDS, 'data']

/** The default schema (Session). */
export class SessionCodec extends Sealed implements Codec<Session> {
  encode (session: Session): Result<string> {
    if (!sessionCheck.Check(session)) return fail('INVALID_ARGUMENT', `not a valid session: ${firstError(sessionCheck.Errors(session))}`)
    let data: unknown = null
    if (session.data !== undefined) {
      const encoded = toJsonData(session.data)
      if (!encoded.ok) return encoded
      data = encoded.value
    }
    return ok(this.seal(JSON.stringify(toStored(session, data)), session.id))
  }

  decode (id: string, stored: string): Result<Session> {
    const parsed = this.open(id, stored)
    if (!parsed.ok) return parsed
    const value = parsed.value.value
    if (!storedCheck.Check(value)) return fail('DECODE', `stored session fails the schema (another version wrote it, or it is corrupt): ${firstError(storedCheck.Errors(value), STORED_NAMES)}`)
    const session = fromStored(value as StoredSession, fromJsonData)
    if (session.id !== id) return fail('DECODE', 'stored session belongs to another id')
    return ok(session)
  }
}

export const SCHEMA_FORMAT = 3

/** The top-level properties of an object schema that hold a Date (alone or in a union). */
function dateFields (schema: TObject): string[] {
  const isDate = (s: TSchema): boolean => s[Kind] === 'Date' || (Array.isArray(s.anyOf) && (s.anyOf as TSchema[]).some(isDate))
  return Object.entries(schema.properties).filter(([, s]) => isDate(s)).map(([name]) => name)
}

/** A schema of the user's own: any TypeBox object schema with a string `id`. */
export class SchemaCodec<T extends { id: string }> extends Sealed implements Codec<T> {
  readonly #check: TypeCheck<TObject>
  readonly #dates: string[]

  constructor (schema: TObject, cipher?: SessionCipher) {
    super(cipher)
    if (schema[Kind] !== 'Object' || schema.properties.id?.[Kind] !== 'String') throw new TypeError('a session schema must be a TypeBox object with a string `id`')
    this.#check = TypeCompiler.Compile(schema)
    this.#dates = dateFields(schema)
  }

  encode (record: T): Result<string> {
    if (!this.#check.Check(record)) return fail('INVALID_ARGUMENT', `not a valid session: ${firstError(this.#check.Errors(record))}`)
    const flat: Record<string, unknown> = { ...record }
    for (const field of this.#dates) {
      const value = flat[field]
      if (value instanceof Date) flat[field] = value.getTime()
    }
    const data = toJsonData(flat, 'session')
    if (!data.ok) return data
    return ok(this.seal(JSON.stringify([SCHEMA_FORMAT, data.value]), record.id))
  }

  decode (id: string, stored: string): Result<T> {
    const parsed = this.open(id, stored)
    if (!parsed.ok) return parsed
    const value = parsed.value.value as [unknown, Record<string, unknown>]
    if (!Array.isArray(value) || value[0] !== SCHEMA_FORMAT || typeof value[1] !== 'object' || value[1] === null) {
      return fail('DECODE', 'stored session is not in this schema\'s form (another version or schema wrote it, or it is corrupt)')
    }
    const record = hasMarkers(parsed.value.json) ? fromJsonData(value[1]) as Record<string, unknown> : value[1]
    for (const field of this.#dates) {
      const ms = record[field]
      if (typeof ms === 'number') record[field] = new Date(ms)
    }
    if (!this.#check.Check(record)) return fail('DECODE', `stored session fails the schema (another version wrote it, or it is corrupt): ${firstError(this.#check.Errors(record))}`)
    if (record.id !== id) return fail('DECODE', 'stored session belongs to another id')
    return ok(record as unknown as T)
  }
}

/**
 * The userId inside a stored session of any schema this library writes (the
 * default form or a schema's own), or undefined when the value cannot be
 * opened or names none: what a revocation needs to find the user's index.
 */
export function storedUserId (id: string, stored: string, cipher?: SessionCipher): string | undefined {
  const opened = new Opener(cipher).read(id, stored)
  if (!opened.ok || !Array.isArray(opened.value.value)) return undefined
  const value = opened.value.value as unknown[]
  const userId = value[0] === SCHEMA_FORMAT ? (value[1] as { userId?: unknown } | null)?.userId : value[2]
  return typeof userId === 'string' ? userId : undefined
}

class Opener extends Sealed {
  read (id: string, stored: string): Result<{ json: string, value: unknown }> {
    return this.open(id, stored)
  }
}
