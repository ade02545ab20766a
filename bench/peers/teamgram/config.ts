/**
 * The pure parts of the Teamgram peer: filling in its service configs, making its SQL schema load
 * on MariaDB, the RSA key in the form gnetway reads, and Go GC pauses from GODEBUG=gctrace=1.
 */
import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { RsaPrivateKey } from '../../../src/handshake/rsa-key.js'

/** The services the bench runs, each with its config template in this directory. */
export const SERVICES = ['authsession', 'session', 'gnetway'] as const
export type ServiceName = (typeof SERVICES)[number]

/** This directory in the source tree, from the compiled module in dist/bench/peers/teamgram/. */
export const SUPPORT_DIR = new URL('../../../../bench/peers/teamgram/', import.meta.url)

export interface TeamgramPorts {
  mtproto: number
  gnetwayGrpc: number
  sessionGrpc: number
  authsessionGrpc: number
}

export interface ConfigValues {
  ports: TeamgramPorts
  /** host:port of etcd's client URL. */
  etcd: string
  /** host:port of Redis. */
  redis: string
  /** go-sql-driver DSN of the `teamgram` database. */
  mysqlDsn: string
  keyFile: string
  /** Unsigned decimal, as gnetway parses it. */
  keyFingerprint: string
  /** go-zero log level: debug, info, error or severe. */
  logLevel: string
}

/** Replaces every `${NAME}` in `template`; throws on a name without a value. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => {
    const v = values[name]
    if (v === undefined) throw new Error(`teamgram config: no value for \${${name}}`)
    return String(v)
  })
}

/** The template values of one run. */
export function templateValues(v: ConfigValues): Record<string, string | number> {
  return {
    ETCD: v.etcd,
    REDIS: v.redis,
    MYSQL_DSN: v.mysqlDsn,
    KEY_FILE: v.keyFile,
    KEY_FINGERPRINT: v.keyFingerprint,
    LOG_LEVEL: v.logLevel,
    MTPROTO_PORT: v.ports.mtproto,
    GNETWAY_GRPC_PORT: v.ports.gnetwayGrpc,
    SESSION_GRPC_PORT: v.ports.sessionGrpc,
    AUTHSESSION_GRPC_PORT: v.ports.authsessionGrpc,
  }
}

/** The YAML config of `service` for this run, from its template in bench/peers/teamgram/. */
export function renderConfig(service: ServiceName, v: ConfigValues): string {
  const template = readFileSync(new URL(`${service}.yaml`, SUPPORT_DIR), 'utf8')
  return fillTemplate(template, templateValues(v))
}

export function mysqlDsn(user: string, password: string, port: number, database = 'teamgram'): string {
  return `${user}:${password}@tcp(127.0.0.1:${port})/${database}?charset=utf8mb4&parseTime=true`
}

/** The key as gnetway loads it (PKCS#1 PEM) and its fingerprint as an unsigned decimal. */
export function gnetwayKey(privateKeyPem: string): { pkcs1Pem: string; fingerprint: string } {
  const pkcs1Pem = createPrivateKey(privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString()
  const fp = RsaPrivateKey.fromPem(privateKeyPem).fingerprint
  return { pkcs1Pem, fingerprint: BigInt.asUintN(64, fp).toString() }
}

/**
 * Teamgram's schema files (teamgramd/deploy/sql/*.sql) as MariaDB 10.11 loads them:
 * - MySQL 8's collation utf8mb4_0900_ai_ci does not exist there; utf8mb4_unicode_ci is used instead;
 * - migrate-20260309.sql indexes chat_invite_participants(chat_id, requested), a column the table
 *   does not have (it fails on MySQL too); that one index is left out so the rest of the
 *   statement still applies.
 */
export function fixSql(fileName: string, sql: string): string {
  let out = sql.replace(/utf8mb4_0900_ai_ci/g, 'utf8mb4_unicode_ci')
  if (fileName === 'migrate-20260309.sql') out = out.replace(/,\s*ADD KEY `idx_chat_requested` \(`chat_id`, `requested`\)/, '')
  return out
}

/** The schema files in the order docker's initdb applies them (lexical). */
export function schemaOrder(fileNames: string[]): string[] {
  return fileNames.filter((f) => f.endsWith('.sql')).sort()
}

/**
 * The stop-the-world pauses (ms) of one GODEBUG=gctrace=1 line: the first and third terms of
 * "a+b+c ms clock" (sweep termination and mark termination); [] for any other line.
 */
export function gcPauses(line: string): number[] {
  const m = /^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+[\d.]+\+([\d.]+) ms clock/.exec(line)
  return m ? [Number(m[1]), Number(m[2])] : []
}

/** The p-th percentile (nearest rank) of `values`, or undefined when there are none. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}
