// Loads the root and every subpath through require() (Node 20.19+ loads ES
// modules that way), as a CommonJS app would.
const assert = require('node:assert/strict')

async function main () {
  const { subpaths } = await import('./subpaths.mjs')
  for (const specifier of subpaths()) {
    const mod = require(specifier)
    assert.equal(typeof mod.default === 'function' || typeof mod.cachePlugin === 'function', true, `${specifier}: no plugin`)
    assert.equal(typeof mod.CacheError, 'function', `${specifier}: no CacheError`)
    console.log(`require ${specifier}: ${Object.keys(mod).length} names`)
  }
}
main().catch((err) => { console.error(err); process.exitCode = 1 })
