/**
 * A small OTLP/HTTP traces receiver for tests: POST /v1/traces with the JSON encoding (what
 * @opentelemetry/exporter-trace-otlp-http sends), gzip or not; every span is kept, flattened.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'

export type AttrValue = string | number | boolean | undefined

export interface ReceivedSpan {
  name: string
  /** 32 / 16 lowercase hex digits. */
  traceId: string
  spanId: string
  parentSpanId: string
  /** OTLP SpanKind (2 = SERVER). */
  kind: number
  attributes: Record<string, AttrValue>
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string }
  /** The resource attributes of the batch it came in (service.name...). */
  resource: Record<string, AttrValue>
}

export interface OtlpReceiver {
  /** The URL to give as tracing.otlp_endpoint. */
  url: string
  spans: ReceivedSpan[]
  /** Requests received (each an export of one batch). */
  requests: number
  close(): Promise<void>
}

interface KeyValue {
  key: string
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean }
}

function attrs(list: KeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {}
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue
  }
  return out
}

/** A trace or span id as hex: the JSON encoding's hex string, or base64 from an older exporter. */
function hexId(v: string | undefined, bytes: number): string {
  if (v === undefined || v === '') return ''
  if (new RegExp(`^[0-9a-f]{${bytes * 2}}$`, 'i').test(v)) return v.toLowerCase()
  return Buffer.from(v, 'base64').toString('hex')
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const raw = Buffer.concat(chunks)
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const r: Omit<OtlpReceiver, 'url' | 'close'> = { spans: [], requests: 0 }
  const server = createServer((req, res) => {
    void body(req).then(
      (buf) => {
        if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
          res.writeHead(415).end()
          return
        }
        r.requests++
        const doc = JSON.parse(buf.toString('utf8')) as {
          resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[]
        }
        for (const rs of doc.resourceSpans ?? []) {
          const resource = attrs(rs.resource?.attributes)
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              r.spans.push({
                name: s.name as string,
                traceId: hexId(s.traceId as string, 16),
                spanId: hexId(s.spanId as string, 8),
                parentSpanId: hexId(s.parentSpanId as string | undefined, 8),
                kind: s.kind as number,
                attributes: attrs(s.attributes as KeyValue[]),
                status: (s.status as { code?: number; message?: string } | undefined)?.code === undefined ? { code: 0 } : (s.status as { code: number; message?: string }),
                resource,
              })
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      },
      () => res.writeHead(400).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/v1/traces`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  })
}
