/**
 * A TCP relay in front of the server's HTTP port that records the request line of every HTTP
 * request passing through (TDLib's HTTP caching proxy mode sends `POST HTTP://<dc ip>:80/api`,
 * the absolute form a proxy gets). Request lines are read from the start of each request: a head
 * up to its blank line, then Content-Length bytes of body.
 */
import { startRelay } from '../../helpers/relay.js'

export interface HttpTap {
  port: number
  /** "METHOD target" of each request, in order. */
  requests: string[]
  close(): Promise<void>
}

export async function startHttpTap(host: string, target: { host: string; port: number }): Promise<HttpTap> {
  const requests: string[] = []
  const relay = await startRelay(host, target, (client) => {
    let buf = Buffer.alloc(0)
    let body = 0
    client.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        if (body > 0) {
          const n = Math.min(body, buf.length)
          body -= n
          buf = buf.subarray(n)
          if (body > 0) return
        }
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1').split('\r\n')
        const [method, target] = head[0]!.split(' ')
        requests.push(`${method} ${target}`)
        const length = head.find((h) => /^content-length:/i.test(h))
        body = length === undefined ? 0 : Number(length.slice(length.indexOf(':') + 1).trim())
        buf = buf.subarray(end + 4)
      }
    })
  })
  return { port: relay.port, requests, close: () => relay.close() }
}
