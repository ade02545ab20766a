/**
 * The example backends' scenario (scenario.ts) with the Python backend (examples/python).
 */
import { describeExampleBackend } from './scenario.js'
import { startPythonBackend } from './python-backend.js'

describeExampleBackend('Python', startPythonBackend)
