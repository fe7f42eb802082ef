#!/usr/bin/env bash
# The consumer check: does the package a user installs work in a Fastify app
# that has nothing but fastify? Builds, packs, installs the tarball into a
# scratch app in a temp dir (npm registry only: fastify, and typescript plus
# @types/node for the type check; no casbin, no optional peer), then
#   1. imports the root and every subpath as ESM, and through require();
#   2. type-checks test/consumer/consumer.ts (every plugin and decorator) against
#      the tarball's declarations, strict, skipLibCheck off;
#   3. runs it: every plugin on the memory store (redisUrl ''), setMany({ a: '1' }).
# Exits non-zero at the first failure, saying which step.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/cachekit-consumer.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
step () { echo "consumer-check: $*"; }

step "build and pack"
cd "$repo"
npm run --silent build
tarball="$(npm pack --silent --pack-destination "$scratch")"

step "install ${tarball} into a fresh app ($scratch)"
cd "$scratch"
cp "$repo"/test/consumer/* .
cat > package.json <<'JSON'
{ "name": "cachekit-consumer", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --loglevel=error "./$tarball" 'fastify@^5' 'typescript@5.9' '@types/node@^20'
for peer in casbin @fastify/env @fastify/oauth2 @fastify/type-provider-typebox; do
  if [ -e "node_modules/$peer" ]; then echo "consumer-check: $peer was installed, but it must not be needed" >&2; exit 1; fi
done

step "import every entry point (ESM)"
node imports.mjs
step "require() every entry point"
node require.cjs

step "type-check consumer.ts (strict, skipLibCheck off)"
npx --no-install tsc -p tsconfig.json

step "run consumer.ts on the memory store"
node out/consumer.js
