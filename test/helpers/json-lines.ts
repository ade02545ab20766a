/** A child process's stdout collected, with each complete JSON-object line handed on as it arrives. */
export class JsonLines {
  text = ''
  private seen = 0

  constructor(private readonly onObject?: (o: Record<string, unknown>) => void) {}

  /** Appends a chunk (for `stream.on('data', ...)`). */
  readonly push = (chunk: string): void => {
    this.text += chunk
    if (this.onObject === undefined) return
    const lines = this.text.split('\n')
    for (; this.seen < lines.length - 1; this.seen++) {
      const l = lines[this.seen]!
      if (l.startsWith('{')) this.onObject(JSON.parse(l) as Record<string, unknown>)
    }
  }
}
