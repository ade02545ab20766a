/**
 * The Go example backend (examples/go) for the scenario: built once per test process (go-build.ts),
 * then one child process per start.
 */
import type { ExampleBackend, ExampleBackendOptions } from './backend.js'
import { goBinary } from './go-build.js'
import { startBackendProcess } from './process.js'

/** `quiet`: its stderr (a line per call) goes to /dev/null. */
export async function startGoBackend(o: ExampleBackendOptions, quiet = false): Promise<ExampleBackend> {
  return startBackendProcess({ command: await goBinary('go', 'examples-go.sh'), name: 'Go backend', quiet }, o)
}
