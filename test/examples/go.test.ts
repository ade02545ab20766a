/**
 * The example backends' scenario (test/examples/scenario.ts) against the Go backend (examples/go),
 * which mtgate calls on its InvokeStream.
 */
import { startGoBackend } from './go-backend.js'
import { describeExampleBackend } from './scenario.js'

describeExampleBackend('Go (InvokeStream)', startGoBackend, { stream: true })
