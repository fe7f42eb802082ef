// Imports the root and every subpath the installed package exports, as ESM.
// The subpaths come from the package's own "exports", so a new one is checked too.
import { strict as assert } from 'node:assert'
import { subpaths } from './subpaths.mjs'

for (const specifier of subpaths()) {
  const mod = await import(specifier)
  assert.equal(typeof mod.default === 'function' || typeof mod.cachePlugin === 'function', true, `${specifier}: no plugin`)
  assert.equal(typeof mod.CacheError, 'function', `${specifier}: no CacheError`)
  console.log(`import  ${specifier}: ${Object.keys(mod).length} names`)
}
