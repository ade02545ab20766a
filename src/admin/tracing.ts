/**
 * OpenTelemetry traces of the RPCs (config `tracing`): one SERVER span per client RPC, named after
 * the method the session layer unwrapped (invokeWithLayer, initConnection, invokeAfterMsg... are
 * no spans of their own), sent in batches to an OTLP/HTTP traces endpoint. Upstream calls carry the
 * span's W3C trace context (`traceparent`, `tracestate`) in their gRPC metadata (src/rpc/upstream.ts).
 *
 * Attributes: rpc.system=mtproto, rpc.method, mtproto.auth_key_id_hash (16 hex digits of the
 * SHA-256 of the auth_key_id: never the key, never the id), mtproto.auth_key_type (perm, temp,
 * media_temp), mtproto.layer (when known), mtproto.dc_id, mtproto.transport, and the outcome:
 * mtproto.outcome `ok` or `rpc_error` (with mtproto.error_code, mtproto.error_message and status
 * ERROR).
 *
 * The SDK is imported only when tracing is on; off, nothing wraps the router (SessionSide gives the
 * session layer the router itself) and the upstream bridge makes one check per call.
 */
import { createHash } from 'node:crypto'
import type { Span, SpanKind, SpanStatusCode, Tracer } from '@opentelemetry/api'
import type { BasicTracerProvider, ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { TracingSettings } from '../config/tracing.js'
import type { RpcCall, RpcDispatcher, RpcOutcome } from '../session/api.js'
import type { Logger } from '../util/log.js'

/** The W3C trace context of a span, as headers (gRPC metadata keys). */
export interface TraceHeaders {
  traceparent: string
  tracestate?: string
}

const KEY_TYPES = ['perm', 'temp', 'media_temp'] as const

/** How long an export (retries included), and so a stop, waits for the collector (ms), unless told otherwise. */
const EXPORT_TIMEOUT_MS = 5000

/** How often a failing export is logged at most (ms). */
const EXPORT_WARN_INTERVAL_MS = 60_000

/** The first 8 bytes (hex) of the SHA-256 of the auth_key_id's 8 little-endian bytes. */
export function authKeyIdHash(authKeyId: bigint): string {
  const b = Buffer.allocUnsafe(8)
  b.writeBigInt64LE(BigInt.asIntN(64, authKeyId))
  return createHash('sha256').update(b).digest('hex').slice(0, 16)
}

export class RpcTracing {
  /** The span of each call being dispatched (for the upstream bridge's metadata). */
  private readonly live = new WeakMap<RpcCall, Span>()

  private constructor(
    private readonly provider: BasicTracerProvider,
    private readonly tracer: Tracer,
    private readonly kind: { server: SpanKind; error: SpanStatusCode },
    private readonly log: Logger,
    private readonly exportTimeoutMs: number,
  ) {}

  /**
   * Loads the SDK and starts the exporter; undefined when tracing is off (no endpoint).
   * `exportTimeoutMs`: how long an export, and so shutdown(), waits for the collector (default 5 s).
   */
  static async start(settings: TracingSettings, log: Logger, opts: { exportTimeoutMs?: number } = {}): Promise<RpcTracing | undefined> {
    const exportTimeoutMs = opts.exportTimeoutMs ?? EXPORT_TIMEOUT_MS
    const url = settings.otlpEndpoint
    if (url === null) return undefined
    const [api, sdk, { OTLPTraceExporter }, { defaultResource, resourceFromAttributes }] = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ])
    const tlog = log.child({ mod: 'tracing' })
    const exporter = warnOnFailure(new OTLPTraceExporter({ url, timeoutMillis: exportTimeoutMs }), tlog, url)
    const provider = new sdk.BasicTracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({ 'service.name': settings.serviceName })),
      sampler: new sdk.TraceIdRatioBasedSampler(settings.sampleRatio),
      spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
    })
    tlog.info({ endpoint: url, serviceName: settings.serviceName, sampleRatio: settings.sampleRatio }, 'tracing: RPC spans to OTLP/HTTP')
    return new RpcTracing(provider, provider.getTracer('mtgate'), { server: api.SpanKind.SERVER, error: api.SpanStatusCode.ERROR }, tlog, exportTimeoutMs)
  }

  /** `inner` with each call in a span. */
  dispatcher(inner: RpcDispatcher): RpcDispatcher {
    return { dispatch: (call) => this.trace(call, inner) }
  }

  /** Dispatches `call` through `inner` inside a span named after its method. */
  async trace(call: RpcCall, inner: RpcDispatcher): Promise<RpcOutcome> {
    const span = this.tracer.startSpan(call.method, { kind: this.kind.server })
    const recording = span.isRecording()
    if (recording) {
      const { ctx } = call
      span.setAttributes({
        'rpc.system': 'mtproto',
        'rpc.method': call.method,
        'mtproto.auth_key_id_hash': authKeyIdHash(ctx.authKeyId),
        'mtproto.auth_key_type': KEY_TYPES[ctx.authKeyType] ?? String(ctx.authKeyType),
        'mtproto.dc_id': ctx.connection.dcId,
        'mtproto.transport': ctx.connection.transport,
      })
      if (ctx.layer !== undefined) span.setAttribute('mtproto.layer', ctx.layer)
    }
    this.live.set(call, span)
    try {
      const outcome = await inner.dispatch(call)
      if (recording) {
        if (outcome.kind === 'error') {
          span.setAttributes({ 'mtproto.outcome': 'rpc_error', 'mtproto.error_code': outcome.code, 'mtproto.error_message': outcome.message })
          span.setStatus({ code: this.kind.error, message: `${outcome.code} ${outcome.message}` })
        } else {
          span.setAttribute('mtproto.outcome', 'ok')
        }
      }
      return outcome
    } catch (e) {
      span.setAttribute('mtproto.outcome', 'exception')
      span.recordException(e as Error)
      span.setStatus({ code: this.kind.error, message: (e as Error).message })
      throw e
    } finally {
      this.live.delete(call)
      span.end()
    }
  }

  /** The trace context of `call`'s span while it is dispatched; undefined otherwise. */
  headersOf(call: RpcCall): TraceHeaders | undefined {
    const span = this.live.get(call)
    if (span === undefined) return undefined
    const c = span.spanContext()
    const traceparent = `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}`
    const tracestate = c.traceState?.serialize()
    return tracestate ? { traceparent, tracestate } : { traceparent }
  }

  /** Sends the spans ended so far (a failed export is logged, not thrown). */
  flush(): Promise<void> {
    return this.provider.forceFlush().catch(() => undefined)
  }

  /**
   * Sends what is left and stops the exporter (a failed export is logged, not thrown); a collector
   * that does not answer holds a stop up for exportTimeoutMs at most.
   */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const gaveUp = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.exportTimeoutMs)))
    const done = this.provider.shutdown().then(
      () => false,
      () => false,
    )
    if (await Promise.race([done, gaveUp])) this.log.warn({ waitedMs: this.exportTimeoutMs }, 'tracing: the collector did not take the last spans in time')
    clearTimeout(timer)
  }
}

/** `exporter`, logging failed exports (at most once a minute; the spans of a failed batch are lost). */
function warnOnFailure(exporter: SpanExporter, log: Logger, url: string): SpanExporter {
  let lastWarn = 0
  let failed = 0
  return {
    export(spans: ReadableSpan[], done) {
      exporter.export(spans, (result) => {
        if (result.code !== 0) {
          failed += spans.length
          if (Date.now() - lastWarn >= EXPORT_WARN_INTERVAL_MS) {
            lastWarn = Date.now()
            log.warn({ endpoint: url, spansLost: failed, err: result.error?.message }, 'tracing: span export failed')
            failed = 0
          }
        }
        done(result)
      })
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  }
}
