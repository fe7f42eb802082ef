import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/**
 * Validates plugin options against their TypeBox schema, filling defaults.
 * Misconfiguration is a programming error found at registration, so this
 * throws (Fastify reports it and does not start), naming the option.
 */
export function checkOptions<S extends TSchema> (schema: S, options: unknown, plugin: string): Static<S> {
  // a copy, so filling defaults never writes into the caller's object
  const withDefaults = Value.Default(schema, { ...(options as object) })
  const first = Value.Errors(schema, withDefaults).First()
  if (first !== undefined) {
    const path = first.path.slice(1).replace(/\//g, '.')
    throw new TypeError(`${plugin}: option ${path} ${first.message} (got ${JSON.stringify(first.value)})`)
  }
  return withDefaults as Static<S>
}

/**
 * `warnIntervalMs` of a plugin built on the cache plugin's context: unset, it
 * shares the cache plugin's throttle (and interval); set, it gets its own.
 */
export const WarnIntervalOptionSchema = Type.Optional(Type.Integer({
  minimum: 0,
  description: 'shortest gap between two warnings about the same failure; default: the cache plugin\'s'
}))
