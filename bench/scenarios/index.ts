import type { Scenario } from '../harness.js'

/** Every scenario `npm run bench` runs, in order. Add yours here. */
export const scenarios: Scenario[] = []
