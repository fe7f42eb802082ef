import type { Scenario } from '../harness.js'
import { authzCheck } from './authz.js'
import { cacheGetHttp, cacheGetInProcess, getOrSetHit, nearCacheHit, stampede } from './cache.js'
import { clusterTake } from './cluster.js'
import { oauthStateRoundTrip } from './oauth-state.js'
import { rateLimitAbusive, rateLimitAllowed } from './rate-limit.js'
import { sessionDeleteAll, sessionGet, sessionSetIdKinds, sessionStoreRead, sessionStoreWrite, sessionStoreWriteNoExpiry } from './sessions.js'

/** Every scenario `npm run bench` runs, in order. Add yours here. */
export const scenarios: Scenario[] = [
  cacheGetInProcess,
  cacheGetHttp,
  getOrSetHit,
  nearCacheHit,
  stampede,
  oauthStateRoundTrip,
  authzCheck,
  sessionGet,
  sessionSetIdKinds,
  sessionStoreRead,
  sessionStoreWrite,
  sessionStoreWriteNoExpiry,
  sessionDeleteAll,
  rateLimitAllowed,
  rateLimitAbusive,
  clusterTake
]
