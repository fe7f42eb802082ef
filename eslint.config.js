// Lint: neostandard (the style the code is written in), with its TypeScript rules.
// dist/ is build output and coverage/ and .tap/ are tap's; none of them is ours to lint.
import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**']
})
