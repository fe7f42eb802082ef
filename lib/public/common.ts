/**
 * What every cachekit entry point exports besides its own plugin: the Result
 * type and its helpers, the error every failure carries, the context a lib
 * component is built with, the problem-details body every route and guard
 * answers errors with, and the key parts a caller may mark as personal data.
 * Re-exported by each `plugins/*.ts` entry, so `fastify-cachekit/<plugin>`
 * alone is enough to use that plugin.
 */
export { ComponentContext, type ComponentContextOptions, type FailureReport } from '../context.js'
export { CacheError, fail, isOutage, ok, unwrap, valueOr, type ErrorCode, type Failure, type Result, type Success } from '../result.js'
export { failureProblem, problem, sendProblem, ProblemResponse, ProblemSchema, PROBLEM_CODES, PROBLEM_CONTENT_TYPE, type Problem, type ProblemCode, type ProblemExtras, type ProblemReply } from '../problem.js'
export { KeyBuilder, personal, type KeyBuilderOptions, type KeyPart, type PersonalPart } from '../keys.js'
export type { SetOptions, Store, StoreHealth, StoreKind } from '../store/store.js'
export type { Entries } from '../store/entries.js'
export type { BreakerOptions, BreakerState } from '../breaker.js'
export type { Logger } from '../log-throttle.js'
