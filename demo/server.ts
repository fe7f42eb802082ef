import { buildApp } from './app.js'

// The process entry point: listen, and close gracefully on a signal so
// in-flight requests finish and Redis connections are quit, not dropped.
let app
try {
  app = await buildApp()
} catch (err) {
  console.error(`cachekit: cannot start: ${(err as Error).message}`)
  process.exit(1)
}
const server = app
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.log.info({ signal }, 'closing')
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    server.close().then(() => process.exit(0), () => process.exit(1))
  })
}
await server.listen({ host: server.config.HOST, port: server.config.PORT })
