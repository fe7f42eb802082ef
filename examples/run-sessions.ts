// Runs examples/sessions.ts and prints what it saw (kept apart so tests import the example without running it).
import { main } from './sessions.js'

console.log(JSON.stringify(await main(), null, 2))
