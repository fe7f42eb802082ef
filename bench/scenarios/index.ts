import type { Scenario } from '../harness.js'
import { cacheGetHttp, cacheGetInProcess } from './cache.js'

/** Every scenario `npm run bench` runs, in order. Add yours here. */
export const scenarios: Scenario[] = [
  cacheGetInProcess,
  cacheGetHttp
]
