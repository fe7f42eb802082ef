/**
 * The one reader of `request.user`, as an authentication plugin leaves it:
 * `@fastify/jwt` sets the token's payload (whose subject is `sub`), session
 * and passport-style plugins set a user object with an `id`, some set the id
 * itself. The authz guards take their subject from it and the rate limiter's
 * `identity: 'user'` its bucket, so both name the same user.
 */

/** An id as text: a non-empty string, or a finite number. */
function idText (value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return undefined
}

/**
 * Who `user` is: its `id`, else its `sub`, else the user itself when it is a
 * string or a number; undefined when none of them is a usable id (anonymous).
 */
export function userIdOf (user: unknown): string | undefined {
  if (typeof user !== 'object' || user === null) return idText(user)
  const { id, sub } = user as { id?: unknown, sub?: unknown }
  return idText(id) ?? idText(sub)
}
