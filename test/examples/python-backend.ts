/**
 * The Python example backend (examples/python) for the scenario: `python3 backend.py`, one child
 * process per start (process.ts). Its PyPI packages come from .ci/deps/examples-python.sh; it
 * generates its gRPC stubs itself (examples/python/gen/, when missing or older than the .proto).
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { StartExampleBackend } from './backend.js'
import { startBackendProcess } from './process.js'

/** examples/python (this file runs compiled, from dist/test/examples). */
export const PYTHON_EXAMPLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../examples/python')

export const startPythonBackend: StartExampleBackend = (o) =>
  startBackendProcess({ command: 'python3', args: [join(PYTHON_EXAMPLE_DIR, 'backend.py')], name: 'Python backend' }, o)
