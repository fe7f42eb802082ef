import { createHash } from 'node:crypto'
import { randomToken } from './random-token.js'

/**
 * PKCE (RFC 7636) with the S256 method: the client keeps a random verifier and
 * sends only its SHA-256 challenge with the authorize request; the token
 * request must then show the verifier, so an intercepted code is useless alone.
 */

/** 32 random bytes, base64url: 43 characters, the shortest verifier RFC 7636 allows. */
export function createCodeVerifier (): string {
  return randomToken()
}

/** The S256 challenge of a verifier: BASE64URL(SHA256(verifier)). */
export function codeChallengeOf (verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}
