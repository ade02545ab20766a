/**
 * A TCP relay on `host` (an ephemeral port) to `target`: each client connection gets its own
 * upstream connection, bytes piped both ways; an error on either side closes both. `onClient` sees
 * each client socket first (to read what the client sends: its 'data' events see every chunk).
 */
import { createConnection, createServer, type Socket } from 'node:net'

export interface Relay {
  host: string
  port: number
  /** Destroys every relayed connection and stops listening. */
  close(): Promise<void>
}

export async function startRelay(host: string, target: { host: string; port: number }, onClient: (client: Socket) => void): Promise<Relay> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = createConnection(target)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    onClient(client)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('relay: no port')
  return {
    host,
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
