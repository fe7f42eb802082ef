// Runs one example and prints what it saw:
//   npx tsx examples/run.ts cache|sessions|authz|rate-limit        (embedded memory store)
//   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/run.ts cache  (Redis)
// Kept apart from the examples so the tests import them without running them.
const name = process.argv[2] ?? 'cache'
const { main } = await import(`./${name}.js`) as { main: () => Promise<unknown> }
console.log(JSON.stringify(await main(), null, 2))
