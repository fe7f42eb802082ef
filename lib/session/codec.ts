import { TypeCompiler, type ValueError, type ValueErrorIterator } from '@sinclair/typebox/compiler'
import { fail, ok, type Result } from '../result.js'
import type { SessionCipher } from './crypto.js'
import { fromStored, SessionSchema, STORED_FIELDS, StoredSessionSchema, toStored, type Session, type StoredSession } from './schema.js'

/**
 * Session ⇄ stored string: the record as JSON, sealed when a cipher is given.
 * Writing checks the session against its schema (a caller's mistake is
 * INVALID_ARGUMENT); reading checks the record (anything else is DECODE, which
 * the session cache treats as a counted miss).
 */

const sessionCheck = TypeCompiler.Compile(SessionSchema)
const storedCheck = TypeCompiler.Compile(StoredSessionSchema)

/**
 * Where a failed check failed, by field name. Called only after a failed
 * check, so there is always a first error. `fields` names the stored array's
 * positions (0 is the format number).
 */
function firstError (errors: ValueErrorIterator, fields?: readonly string[]): string {
  const e = errors.First() as ValueError
  const [top, ...rest] = e.path.slice(1).split('/') // top is '' at the root
  const name = top === '' ? 'session' : fields === undefined ? top : fields[Number(top)]
  return `${[name, ...rest].join('.')}: ${e.message}`
}

const STORED_NAMES = ['format', ...STORED_FIELDS]

export class SessionCodec {
  readonly #cipher: SessionCipher | undefined

  constructor (cipher?: SessionCipher) {
    this.#cipher = cipher
  }

  get encrypted (): boolean {
    return this.#cipher !== undefined
  }

  /** Checks the session and encodes it for storage under its id. */
  encode (session: Session): Result<string> {
    if (!sessionCheck.Check(session)) return fail('INVALID_ARGUMENT', `not a valid session: ${firstError(sessionCheck.Errors(session))}`)
    const json = JSON.stringify(toStored(session))
    return ok(this.#cipher === undefined ? json : this.#cipher.encrypt(json, session.id))
  }

  /** The session stored under `id`, or DECODE when it fails to open, parse or match the schema. */
  decode (id: string, stored: string): Result<Session> {
    let json = stored
    if (this.#cipher !== undefined) {
      const opened = this.#cipher.decrypt(stored, id)
      if (opened === null) return fail('DECODE', 'session value does not authenticate (tampered, unknown key, or not encrypted)')
      json = opened
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(json)
    } catch {
      return fail('DECODE', 'session value is not JSON (encrypted with encryption off, or corrupt)')
    }
    if (!storedCheck.Check(parsed)) return fail('DECODE', `stored session fails the schema (another version wrote it, or it is corrupt): ${firstError(storedCheck.Errors(parsed), STORED_NAMES)}`)
    const session = fromStored(parsed as StoredSession)
    if (session.id !== id) return fail('DECODE', 'stored session belongs to another id')
    return ok(session)
  }
}
