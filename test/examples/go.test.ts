/** The example backends' scenario (test/examples/scenario.ts) against the Go backend (examples/go). */
import { startGoBackend } from './go-backend.js'
import { describeExampleBackend } from './scenario.js'

describeExampleBackend('Go', startGoBackend)
