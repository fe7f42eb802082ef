// The specifiers a user can import: the root and each subpath of the
// installed package's "exports" (its package.json itself aside).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

export function subpaths () {
  const require = createRequire(import.meta.url)
  const manifest = JSON.parse(readFileSync(require.resolve('fastify-cachekit/package.json'), 'utf8'))
  return Object.keys(manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`)
}
