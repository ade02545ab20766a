/**
 * An example backend (examples/<language>) as a test runs it: a child process implementing
 * mtgate.upstream.v1.Upstream on `listen` and calling mtgate's Mtgate service on `mtgate`.
 */
export interface ExampleBackendOptions {
  /** host:port to serve Upstream on. */
  listen: string
  /** host:port of mtgate's Mtgate service (config backend_api). */
  mtgate: string
  /** JSON file the backend keeps its users and messages in (survives a restart). */
  stateFile: string
  /** Every Invoke waits this long before it is handled (the backends' --delay-ms; fault tests). */
  delayMs?: number
}

export interface ExampleBackend {
  /** Where it serves Upstream (options.listen). */
  readonly address: string
  /** SIGKILL, as a crash; resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts it again on the same address and state file, with other options if given; resolves once it serves. */
  restart(o?: Partial<Pick<ExampleBackendOptions, 'delayMs'>>): Promise<void>
  /** SIGTERM; resolves once the process is gone. */
  stop(): Promise<void>
  /** The last `n` lines it wrote on stderr, across restarts (for failure messages). */
  logTail(n: number): string
}

export type StartExampleBackend = (o: ExampleBackendOptions) => Promise<ExampleBackend>
