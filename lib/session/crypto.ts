import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Opt-in encryption at rest: AES-256-GCM with a fresh 96-bit IV per value and
 * the session id as additional authenticated data, so a value cannot be
 * altered or moved under another id without failing authentication.
 *
 * Each value names the key that sealed it, so keys rotate without a flag day:
 * the first key encrypts, every listed key decrypts. Add the new key first,
 * keep the old one until the longest session written with it has expired.
 *
 * Stored form: `enc1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts).
 */

export interface EncryptionKey {
  /** Short name stored with each value: letters, digits, `_`, `-`. */
  id: string
  /** 32 bytes, as a Buffer or base64/base64url text. */
  key: Buffer | string
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/
const FORMAT = 'enc1'

function keyBytes (key: EncryptionKey): Buffer {
  const bytes = typeof key.key === 'string' ? Buffer.from(key.key, 'base64') : key.key
  if (bytes.length !== 32) throw new TypeError(`encryption key ${key.id} must be 32 bytes (AES-256), got ${bytes.length}`)
  return bytes
}

export class SessionCipher {
  readonly #keys = new Map<string, Buffer>()
  readonly #current: string

  /** Throws TypeError on a malformed key list: a configuration error, found at start-up. */
  constructor (keys: readonly EncryptionKey[]) {
    if (keys.length === 0) throw new TypeError('encryption needs at least one key')
    for (const key of keys) {
      if (!KEY_ID.test(key.id)) throw new TypeError(`encryption key id must match ${String(KEY_ID)}, got ${JSON.stringify(key.id)}`)
      if (this.#keys.has(key.id)) throw new TypeError(`encryption key id ${key.id} is listed twice`)
      this.#keys.set(key.id, keyBytes(key))
    }
    this.#current = (keys[0] as EncryptionKey).id
  }

  /** The id of the key new values are sealed with. */
  get currentKeyId (): string {
    return this.#current
  }

  encrypt (plaintext: string, aad: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#current) as Buffer, iv)
    cipher.setAAD(Buffer.from(aad))
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return [FORMAT, this.#current, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), sealed.toString('base64url')].join('.')
  }

  /** The plaintext, or null when the value is not ours, names an unknown key or fails authentication. */
  decrypt (value: string, aad: string): string | null {
    const [format, keyId, iv, tag, sealed, extra] = value.split('.')
    const key = this.#keys.get(keyId as string)
    if (format !== FORMAT || key === undefined || sealed === undefined || extra !== undefined) return null
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv as string, 'base64url'), { authTagLength: 16 })
      decipher.setAAD(Buffer.from(aad))
      decipher.setAuthTag(Buffer.from(tag as string, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }
}

/**
 * Parses `SESSION_ENCRYPTION_KEYS`: `id:base64key[,id:base64key…]`, the first
 * key encrypting. An empty string means no encryption.
 */
export function parseEncryptionKeys (text: string): Array<{ id: string, key: string }> {
  if (text.trim() === '') return []
  return text.split(',').map((entry) => {
    const at = entry.indexOf(':')
    if (at <= 0) throw new TypeError('SESSION_ENCRYPTION_KEYS entries must look like id:base64key')
    return { id: entry.slice(0, at).trim(), key: entry.slice(at + 1).trim() }
  })
}
