/** One pino log line as written: level (number), msg and the rest. */
export interface LogLine { level: number, msg: string, [field: string]: unknown }

/**
 * A pino destination that keeps every line: pass `{ level, stream }` as a
 * Fastify `logger` option, then read `lines` (parsed) or `at(level)`.
 */
export class LogCapture {
  readonly lines: LogLine[] = []

  /** The pino destination. */
  readonly stream = {
    write: (chunk: string): void => {
      for (const line of chunk.split('\n')) if (line !== '') this.lines.push(JSON.parse(line) as LogLine)
    }
  }

  /** Lines at `level` or above (pino numbers: 40 warn, 50 error). */
  atLeast (level: number): LogLine[] {
    return this.lines.filter((line) => line.level >= level)
  }
}
