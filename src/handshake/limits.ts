/**
 * Handshakes in flight per remote IP. A slot is taken at req_pq and released when the exchange
 * ends (dh_gen_ok / failure / deadline / connection close). Over the limit → transport error -429.
 */
export class InFlightLimiter {
  private readonly counts = new Map<string, number>()

  constructor(readonly maxPerIp: number) {}

  tryAcquire(ip: string): boolean {
    const n = this.counts.get(ip) ?? 0
    if (n >= this.maxPerIp) return false
    this.counts.set(ip, n + 1)
    return true
  }

  release(ip: string): void {
    const n = this.counts.get(ip) ?? 0
    if (n <= 1) this.counts.delete(ip)
    else this.counts.set(ip, n - 1)
  }

  inFlight(ip: string): number {
    return this.counts.get(ip) ?? 0
  }
}
