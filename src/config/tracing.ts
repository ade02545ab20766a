/**
 * The `tracing:` section of the YAML config: OpenTelemetry traces of the RPCs (src/admin/tracing.ts),
 * sent to an OTLP/HTTP traces endpoint (a collector). Off unless an endpoint is given.
 *
 *   tracing:
 *     otlp_endpoint: http://127.0.0.1:4318/v1/traces   # default none (off); the full URL of the traces endpoint
 *     service_name: mtgate                             # the service.name resource attribute
 *     sample_ratio: 1                                  # 0..1: the share of RPCs traced
 *   tracing: off             # (or null) the same as no endpoint
 *
 * Env: MTGATE_OTLP_ENDPOINT (a URL, or '' / off), MTGATE_TRACING_SERVICE_NAME,
 * MTGATE_TRACING_SAMPLE_RATIO. The exporter's own OTEL_EXPORTER_OTLP_HEADERS (key=value,...) adds
 * request headers, e.g. a collector's API key.
 */
import { Collector, ConfigError, checkKeys, mapping, str, type Env } from './load.js'

export interface TracingSettings {
  /** The OTLP/HTTP traces URL; null: tracing off. */
  otlpEndpoint: string | null
  serviceName: string
  /** The share of RPCs traced (trace-id ratio sampling), 0..1. */
  sampleRatio: number
}

export const TRACING_DEFAULTS: Readonly<TracingSettings> = { otlpEndpoint: null, serviceName: 'mtgate', sampleRatio: 1 }

type Raw = Record<string, unknown>

const off = (v: unknown): boolean => v === null || v === false || v === 'off'

/** Writes the env forms into the raw `tracing` section (each checked and reported under its own name). */
export function applyTracingEnv(raw: Raw, env: Env, errors: Collector, note: (name: string, path: string) => void): void {
  const set = (name: string, key: string, read: (v: string) => unknown): void => {
    const v = env[name]?.trim()
    if (v === undefined) return
    errors.take(() => {
      const value = read(v)
      const cur = raw.tracing
      raw.tracing = { ...(cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Raw) : {}), [key]: value }
      note(name, `tracing.${key}`)
    }, undefined)
  }
  set('MTGATE_OTLP_ENDPOINT', 'otlp_endpoint', (v) => (v === '' || v === 'off' ? null : endpoint(v, 'MTGATE_OTLP_ENDPOINT')))
  set('MTGATE_TRACING_SERVICE_NAME', 'service_name', (v) => str(v, 'MTGATE_TRACING_SERVICE_NAME', TRACING_DEFAULTS.serviceName))
  set('MTGATE_TRACING_SAMPLE_RATIO', 'sample_ratio', (v) => {
    if (!/^\d*\.?\d+$/.test(v)) throw new ConfigError('MTGATE_TRACING_SAMPLE_RATIO', `not a number: ${JSON.stringify(v)}`)
    return ratio(Number(v), 'MTGATE_TRACING_SAMPLE_RATIO')
  })
}

export function parseTracing(v: unknown): TracingSettings {
  if (off(v)) return { ...TRACING_DEFAULTS }
  const raw = mapping(v, 'tracing')
  const errors = new Collector()
  errors.take(() => checkKeys(raw, ['otlp_endpoint', 'service_name', 'sample_ratio'], 'tracing.'), undefined)
  const otlpEndpoint = errors.take(() => (raw.otlp_endpoint === undefined || off(raw.otlp_endpoint) ? null : endpoint(raw.otlp_endpoint, 'tracing.otlp_endpoint')), null)
  const serviceName = errors.take(() => str(raw.service_name, 'tracing.service_name', TRACING_DEFAULTS.serviceName), TRACING_DEFAULTS.serviceName)
  const sampleRatio = errors.take(() => (raw.sample_ratio === undefined ? TRACING_DEFAULTS.sampleRatio : ratio(raw.sample_ratio, 'tracing.sample_ratio')), 1)
  errors.check()
  return { otlpEndpoint, serviceName, sampleRatio }
}

/** An http(s) URL with a host. */
function endpoint(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(path, 'must be an http(s) URL (e.g. http://127.0.0.1:4318/v1/traces) or off')
  let url: URL
  try {
    url = new URL(v)
  } catch {
    throw new ConfigError(path, `not a URL: ${JSON.stringify(v)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(path, `must be http:// or https://, got ${url.protocol}`)
  if (url.hostname === '') throw new ConfigError(path, 'no host')
  return v
}

function ratio(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new ConfigError(path, 'must be a number in 0..1')
  return v
}
