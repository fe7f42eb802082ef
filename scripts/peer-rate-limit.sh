#!/usr/bin/env bash
# Runs @fastify/rate-limit's own test suite against this package's rate-limit
# plugin, through scripts/peer-rate-limit/adapter.cjs. CI does not run it, and it
# fetches nothing: get the suite yourself, outside this repository, at the
# version in package-lock.json (see docs/rate-limit.md, "Their test suite").
#
#   scripts/peer-rate-limit.sh <suite folder> memory|redis|orig [test files…]
#
# memory: apps without a Redis client of their own use the memory store;
# redis: each such app gets its own prefix on a private redis-server;
# orig: the suite's own plugin (a baseline). The suite's Redis tests always run
# on the private redis-server (started here, on a free port, and stopped).
# RL_OPTIONS='{"clock":"process"}' merges options under every registration.
# Prints the counts and the failing tests; the whole TAP output is left in
# <suite folder>/peer-<mode>.tap.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
suite=${1:?usage: $0 <suite folder> memory|redis|orig [test files…]}
mode=${2:?usage: $0 <suite folder> memory|redis|orig [test files…]}
shift 2
case $mode in memory|redis|orig) ;; *) echo "mode: memory, redis or orig" >&2; exit 2 ;; esac
suite=$(cd "$suite" && pwd)
case $suite/ in "$repo"/*) echo "the suite must stay outside this repository" >&2; exit 2 ;; esac
grep -q '"name": "@fastify/rate-limit"' "$suite/package.json" || { echo "$suite is not @fastify/rate-limit" >&2; exit 2; }

# put the adapter in place of the suite's plugin (kept as index.orig.js), once
[ -e "$suite/index.orig.js" ] || mv "$suite/index.js" "$suite/index.orig.js"
cp "$repo/scripts/peer-rate-limit/adapter.cjs" "$suite/index.js"
cp "$repo/scripts/peer-rate-limit/isolate.cjs" "$suite/isolate.cjs"
[ -e "$suite/node_modules" ] || ln -s "$repo/node_modules" "$suite/node_modules"
# the suite's Redis tests connect to 127.0.0.1:6379 and flush it: point them at the private one
sed -i 's/new Redis({ host: REDIS_HOST })/new Redis({ host: REDIS_HOST, port: Number(process.env.RL_REDIS_PORT) })/' \
  "$suite/test/redis-rate-limit.test.js"

port=$(node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })")
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

cd "$suite"
if [ $# -eq 0 ]; then set -- test/*.test.js test/github-issues/*.test.js; fi
out="$suite/peer-$mode.tap"
CACHEKIT_REPO=$repo RL_STORE=$mode RL_REDIS_PORT=$port \
  node --import tsx --require ./isolate.cjs --test --test-reporter=tap --test-force-exit --test-timeout=30000 \
  --test-concurrency=1 "$@" >"$out" 2>&1 || true

# leaf tests: a "not ok"/"ok" line whose subtest has no subtests of its own
node - "$out" <<'JS'
const lines = require('node:fs').readFileSync(process.argv[2], 'utf8').split('\n')
const pass = []; const fail = []; const skip = []
for (let i = 0; i < lines.length; i++) {
  const m = /^(\s*)(ok|not ok) \d+ - (.*)$/.exec(lines[i])
  if (m === null) continue
  // a suite (describe) or a file: its YAML says type: 'suite', or its own subtests precede it
  const yaml = lines.slice(i + 1, i + 4).join('\n')
  if (/type: 'suite'/.test(yaml)) continue
  const name = m[3].replace(/ # SKIP.*$/, '')
  if (/# SKIP/.test(m[3])) skip.push(name)
  else if (m[2] === 'ok') pass.push(name)
  else fail.push(name)
}
const timedOut = lines.filter((l) => /cancelledByParent|timed out/.test(l)).length
console.log(`pass ${pass.length}, fail ${fail.length}, skip ${skip.length} (of ${pass.length + fail.length + skip.length}); timeouts/cancelled lines: ${timedOut}`)
for (const name of fail) console.log(`  not ok: ${name}`)
JS
