import { randomFillSync } from 'node:crypto'

/**
 * 32 cryptographically random bytes, base64url (43 characters), for states and
 * PKCE verifiers. Drawing each token with its own `randomBytes` call costs a
 * trip into OpenSSL per token, a large share of a create; instead a pool is
 * filled in bulk (one call per 128 tokens, as `crypto.randomUUID` caches) and
 * every byte is handed out once, then zeroed so used tokens do not linger.
 */

const TOKEN_BYTES = 32
const pool = Buffer.alloc(TOKEN_BYTES * 128)
let offset = pool.length

export function randomToken (): string {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const start = offset
  offset += TOKEN_BYTES
  const token = pool.toString('base64url', start, offset)
  pool.fill(0, start, offset)
  return token
}
