// Every test file counts toward every source file; server.ts (the process entry
// point: listen, signal handlers) is started by no test, so it is left out.
export default (testFile) => null
