import { Type, type Static, type TSchema } from '@sinclair/typebox'

/**
 * A session as the application sees it (Dates) and as it is stored (the same
 * fields, Dates as epoch milliseconds, so every Date round-trips exactly).
 * Fields that may be unknown are null, never absent.
 */

/**
 * A session id: any opaque string of 1 to 256 characters without control
 * characters (UUIDs, @fastify/session ids, your own). `newId(userId)` mints
 * `<user tag>.<random>`, which puts the session in its user's Cluster slot.
 */
export const SESSION_ID_PATTERN = '^[^\\u0000-\\u001f\\u007f]{1,256}$'
export const MAX_SESSION_ID_LENGTH = 256
/** The form of an id minted by newId(): `<22-character user tag>.<random>`. */
export const MINTED_ID_PATTERN = '^[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{16,128}$'
export const MAX_USER_ID_LENGTH = 512

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Text = (maxLength: number) => Type.String({ maxLength })

/** Free-form client details (browser, os, country…): flat JSON values only. */
export const SessionDetails = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))

/** The fields, with `date` as the representation of a point in time. */
function sessionShape<D extends TSchema> (date: D) {
  return {
    id: Type.String({ pattern: SESSION_ID_PATTERN }),
    userId: Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH }),
    createdAt: date,
    lastActivityAt: date,
    expiresAt: Nullable(date),
    ipAddress: Nullable(Text(64)),
    lastIpAddress: Nullable(Text(64)),
    userAgent: Nullable(Text(1024)),
    deviceInfo: Nullable(SessionDetails),
    location: Nullable(SessionDetails),
    isRevoked: Type.Boolean(),
    revokedAt: Nullable(date),
    revokedReason: Nullable(Text(256)),
    isTrusted: Type.Boolean(),
    refreshTokenId: Nullable(Text(256)),
    suspiciousActivityCount: Type.Integer({ minimum: 0 }),
    lastProviderAccessed: Nullable(Text(128)),
    lastProviderSyncAt: Nullable(date),
    providersAccessed: Type.Array(Text(128))
  }
}

/** Free-form JSON data kept beside the typed fields (Dates inside round-trip as Dates). */
export const SessionData = Type.Record(Type.String(), Type.Unknown())

/**
 * The default session: the typed fields, plus `data` for anything else. A
 * field outside the schema is refused (INVALID_ARGUMENT naming it), never
 * dropped.
 */
export const SessionSchema = Type.Object({ ...sessionShape(Type.Date()), data: Type.Optional(SessionData) }, { additionalProperties: false })
export type Session = Static<typeof SessionSchema>

/** The fields as stored: Dates as integer epoch milliseconds. */
const RECORD_SHAPE = sessionShape(Type.Integer())

/** The stored field order. Appending or reordering fields is a new STORED_FORMAT. */
export const STORED_FIELDS = Object.keys(RECORD_SHAPE) as Array<Exclude<keyof Session, 'data'>>
const DATE_FIELDS = new Set<keyof Session>(['createdAt', 'lastActivityAt', 'expiresAt', 'revokedAt', 'lastProviderSyncAt'])
/** 2: the typed fields, then `data` (as toJsonData wrote it) or null. */
export const STORED_FORMAT = 2

/**
 * What is stored: `[STORED_FORMAT, ...values in STORED_FIELDS order]`. A
 * positional array parses about twice as fast as the same record keyed by
 * name (the read path is one GET and one JSON.parse), and the leading format
 * number makes a value written by another version a clean miss.
 */
export const StoredSessionSchema = Type.Tuple([Type.Literal(STORED_FORMAT), ...Object.values(RECORD_SHAPE), Type.Union([Type.Null(), SessionData])])
export type StoredSession = [typeof STORED_FORMAT, ...unknown[]]

/** The stored array; `data` is passed already encoded (toJsonData), or null. */
export function toStored (session: Session, data: unknown): StoredSession {
  const out: StoredSession = [STORED_FORMAT]
  for (const field of STORED_FIELDS) {
    const value = session[field]
    out.push(DATE_FIELDS.has(field) && value !== null ? (value as Date).getTime() : value)
  }
  out.push(data ?? null)
  return out
}

const date = (ms: unknown): Date | null => ms === null ? null : new Date(ms as number)

/**
 * A stored value that passed StoredSessionSchema, as a Session. Written out
 * position by position (in STORED_FIELDS order) because it is on the hot path
 * of every read; the round-trip tests hold it to toStored.
 */
export function fromStored (v: StoredSession, data: (stored: unknown) => unknown): Session {
  const session: Session = {
    id: v[1] as string,
    userId: v[2] as string,
    createdAt: new Date(v[3] as number),
    lastActivityAt: new Date(v[4] as number),
    expiresAt: date(v[5]),
    ipAddress: v[6] as string | null,
    lastIpAddress: v[7] as string | null,
    userAgent: v[8] as string | null,
    deviceInfo: v[9] as Session['deviceInfo'],
    location: v[10] as Session['location'],
    isRevoked: v[11] as boolean,
    revokedAt: date(v[12]),
    revokedReason: v[13] as string | null,
    isTrusted: v[14] as boolean,
    refreshTokenId: v[15] as string | null,
    suspiciousActivityCount: v[16] as number,
    lastProviderAccessed: v[17] as string | null,
    lastProviderSyncAt: date(v[18]),
    providersAccessed: v[19] as string[]
  }
  if (v[20] !== null) session.data = data(v[20]) as Record<string, unknown>
  return session
}

/** The JSON form served over HTTP: Dates as ISO 8601 strings. */
export const SessionJsonSchema = Type.Object({ ...sessionShape(Type.String({ format: 'date-time' })), data: Type.Optional(SessionData) })
