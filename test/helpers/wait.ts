/** Resolves when `pred` holds (polled every 20 ms), rejects after `ms`. */
export async function waitFor(pred: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const t0 = Date.now()
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
