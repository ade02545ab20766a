/**
 * bench/peers/teamgram/config.ts: the Teamgram services' configs are filled in completely and bind
 * only 127.0.0.1, the key is handed over as PKCS#1 with Telegram's fingerprint, Teamgram's schema
 * is rewritten for MariaDB, GC pauses are read from gctrace lines, and the build cache and source
 * are found where build.ts documents them.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildMissing, built, GO_MISSING, teamgramPaths, TEAMGRAM_COMMIT } from '../../../bench/peers/teamgram/build.js'
import { findBinary } from '../../helpers/services.js'
import { fillTemplate, fixSql, gcPauses, gnetwayKey, mysqlDsn, percentile, renderConfig, schemaOrder, SERVICES, type ConfigValues } from '../../../bench/peers/teamgram/config.js'

const values: ConfigValues = {
  ports: { mtproto: 41001, gnetwayGrpc: 41002, sessionGrpc: 41003, authsessionGrpc: 41004 },
  etcd: '127.0.0.1:41005',
  redis: '127.0.0.1:41006',
  mysqlDsn: mysqlDsn('mtgate', 'ab12', 41007),
  keyFile: '/w/server_pkcs1.key',
  keyFingerprint: '12240908862933197005',
  logLevel: 'error',
}

describe('teamgram configs', () => {
  it('fillTemplate fills every field and refuses an unknown one', () => {
    assert.equal(fillTemplate('a ${X} b ${Y_1} ${X}', { X: 1, Y_1: 'y' }), 'a 1 b y 1')
    assert.throws(() => fillTemplate('${NOPE}', {}), /no value for \$\{NOPE\}/)
  })

  it('each service config is complete, uses only the given ports, binds only 127.0.0.1', () => {
    for (const s of SERVICES) {
      const yaml = renderConfig(s, values)
      assert.doesNotMatch(yaml, /\$\{/, s)
      const addresses = [...yaml.matchAll(/(\d+\.\d+\.\d+\.\d+):(\d+)/g)]
      assert.ok(addresses.length >= 2, s)
      for (const [, host, port] of addresses) {
        assert.equal(host, '127.0.0.1', s)
        assert.ok(Number(port) >= 41001 && Number(port) <= 41007, `${s}: port ${port}`)
      }
      assert.match(yaml, /Mode: console\n\s+Level: error/, s)
      assert.match(yaml, new RegExp(`ListenOn: 127\\.0\\.0\\.1:4100${{ gnetway: 2, session: 3, authsession: 4 }[s]}\\n`), s)
    }
    const gnetway = renderConfig('gnetway', values)
    assert.match(gnetway, /Proto: tcp\n\s+Addresses:\n\s+- 127\.0\.0\.1:41001\n/)
    assert.match(gnetway, /KeyFile: "\/w\/server_pkcs1\.key"\n\s+KeyFingerprint: "12240908862933197005"/)
    assert.doesNotMatch(gnetway, /websocket/)
    assert.match(renderConfig('authsession', values), /DSN: mtgate:ab12@tcp\(127\.0\.0\.1:41007\)\/teamgram\?charset=utf8mb4&parseTime=true\n/)
    assert.match(renderConfig('session', values), /Cache:\n\s+- Host: 127\.0\.0\.1:41006\n/)
  })
})

describe('teamgram key', () => {
  it('hands gnetway a PKCS#1 PEM and the unsigned decimal Telegram fingerprint', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 })
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const { pkcs1Pem, fingerprint } = gnetwayKey(pkcs8)
    assert.match(pkcs1Pem, /^-----BEGIN RSA PRIVATE KEY-----\n/)
    assert.deepEqual(createPrivateKey(pkcs1Pem).export({ format: 'jwk' }), privateKey.export({ format: 'jwk' }))
    // sha1 of TL `rsa_public_key n:bytes e:bytes`, lower 64 bits (bytes 12..20, little-endian)
    const jwk = privateKey.export({ format: 'jwk' })
    const tlBytes = (b: Buffer): Buffer => {
      const head = b.length < 254 ? Buffer.from([b.length]) : Buffer.from([254, b.length & 255, (b.length >> 8) & 255, b.length >> 16])
      const body = Buffer.concat([head, b])
      return Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)])
    }
    const digest = createHash('sha1').update(Buffer.concat([tlBytes(Buffer.from(jwk.n!, 'base64url')), tlBytes(Buffer.from(jwk.e!, 'base64url'))])).digest()
    assert.equal(fingerprint, digest.readBigUInt64LE(12).toString())
    assert.equal(gnetwayKey(pkcs1Pem).fingerprint, fingerprint)
  })
})

describe('teamgram schema', () => {
  it('replaces the MySQL 8 collation in every file', () => {
    const sql = 'CREATE TABLE t (a varchar(3) COLLATE utf8mb4_0900_ai_ci) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;'
    assert.equal(fixSql('migrate-20251213.sql', sql), 'CREATE TABLE t (a varchar(3) COLLATE utf8mb4_unicode_ci) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;')
  })

  it('drops only the index on the missing column from migrate-20260309.sql', () => {
    const sql = 'ALTER TABLE `chat_invite_participants`\n  ADD KEY `idx_chat_user` (`chat_id`, `user_id`),\n  ADD KEY `idx_chat_requested` (`chat_id`, `requested`);\n'
    assert.equal(fixSql('migrate-20260309.sql', sql), 'ALTER TABLE `chat_invite_participants`\n  ADD KEY `idx_chat_user` (`chat_id`, `user_id`);\n')
    assert.equal(fixSql('migrate-20260310.sql', sql), sql)
  })

  it('applies the .sql files in lexical order, as docker initdb does', () => {
    assert.deepEqual(schemaOrder(['z_init.sql', 'README.md', 'migrate-20220326.sql', '1_teamgram.sql', 'migrate-20220321.sql']), ['1_teamgram.sql', 'migrate-20220321.sql', 'migrate-20220326.sql', 'z_init.sql'])
  })
})

describe('teamgram GC pauses', () => {
  it('reads the two stop-the-world phases of a gctrace line', () => {
    const line = 'gc 14 @2.345s 3%: 0.021+1.8+0.35 ms clock, 0.084+0.40/1.5/0.10+1.4 ms cpu, 8->9->4 MB, 9 MB goal, 0 MB stacks, 0 MB globals, 4 P'
    assert.deepEqual(gcPauses(line), [0.021, 0.35])
    assert.deepEqual(gcPauses('{"@timestamp":"2026-12-06","level":"error","content":"gc 1 @"}'), [])
    assert.deepEqual(gcPauses('scvg: 0 MB released'), [])
  })

  it('percentile is nearest-rank and undefined on no samples', () => {
    const xs = Array.from({ length: 200 }, (_, i) => 200 - i)
    assert.equal(percentile(xs, 99), 198)
    assert.equal(percentile(xs, 50), 100)
    assert.equal(percentile([7], 99), 7)
    assert.equal(percentile([], 99), undefined)
  })
})

describe('teamgram build cache', () => {
  /** Runs `fn` with the given environment variables set (undefined: unset), restoring them after. */
  const withEnv = (env: Record<string, string | undefined>, fn: () => void): void => {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
    const set = (vars: Record<string, string | undefined>): void => {
      for (const [k, v] of Object.entries(vars)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
    set(env)
    try {
      fn()
    } finally {
      set(saved)
    }
  }

  it('keeps one directory per commit under MTGATE_BENCH_CACHE and needs nothing once built', () => {
    const cache = mkdtempSync(join(tmpdir(), 'mtgate-teamgram-cache-'))
    try {
      withEnv({ MTGATE_BENCH_CACHE: cache, MTGATE_TEAMGRAM_SRC: undefined }, () => {
        const p = teamgramPaths()
        assert.equal(p.root, join(cache, 'teamgram', TEAMGRAM_COMMIT.slice(0, 12)))
        assert.equal(built(p), false)
        mkdirSync(p.sql, { recursive: true })
        for (const s of ['gnetway', 'session']) writeFileSync(join(p.bin, s), '')
        assert.equal(built(p), false, 'authsession is missing')
        writeFileSync(join(p.bin, 'authsession'), '')
        assert.equal(built(p), true)
        assert.equal(buildMissing(p), undefined)
      })
    } finally {
      rmSync(cache, { recursive: true, force: true })
    }
  })

  it('names MTGATE_TEAMGRAM_SRC when it is not a teamgram-server tree', () => {
    const cache = mkdtempSync(join(tmpdir(), 'mtgate-teamgram-cache-'))
    try {
      withEnv({ MTGATE_BENCH_CACHE: cache, MTGATE_TEAMGRAM_SRC: cache }, () => {
        const go = findBinary('go') !== undefined
        if (go) assert.match(buildMissing() ?? '', /^MTGATE_TEAMGRAM_SRC=.* is not a teamgram-server tree/)
        mkdirSync(join(cache, 'teamgramd', 'deploy', 'sql'), { recursive: true })
        writeFileSync(join(cache, 'go.mod'), 'module github.com/teamgram/teamgram-server\n')
        assert.equal(buildMissing(), go ? undefined : GO_MISSING)
      })
    } finally {
      rmSync(cache, { recursive: true, force: true })
    }
  })
})
