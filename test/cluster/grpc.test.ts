/**
 * The gRPC surface of the nodes: grpc.health.v1 on both kinds, mutual TLS between nodes (a client
 * without a certificate signed by the cluster CA is refused; gateway ↔ session traffic works over
 * it), and a Connect stream without a gateway id refused with INVALID_ARGUMENT.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import type { GatewayNode } from '../../src/cluster/gateway-node.js'
import { protos, type HealthStatus } from '../../src/cluster/proto.js'
import type { SessionNode } from '../../src/cluster/session-node.js'
import { AuthKey } from '../../src/crypto/message.js'
import { MemoryAuthKeyStore } from '../../src/store/memory.js'
import { AuthKeyType } from '../../src/store/types.js'
import type { TlObject } from '../../src/tl/index.js'
import { RawClient } from '../e2e/raw-client.js'
import { findBinary, skipWithout, type EtcdInstance, startEtcd } from '../helpers/services.js'
import { makeDataDir, startGateway, startSession, waitFor } from './harness.js'

function openssl(args: string[], cwd: string): void {
  const r = spawnSync(findBinary('openssl') ?? 'openssl', args, { cwd, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`)
}

/** A CA and one node certificate for IP 127.0.0.1 signed by it; a second, foreign CA + cert. */
function makeCerts(dir: string): void {
  for (const ca of ['ca', 'other-ca']) {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`], dir)
  }
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n')
  for (const [name, ca] of [['node', 'ca'], ['intruder', 'other-ca']]) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', 'ext.cnf'], dir)
  }
}

function check(address: string, creds: grpc.ChannelCredentials, service = ''): Promise<HealthStatus> {
  const { HealthClient } = protos()
  const c = new HealthClient(address, creds)
  return new Promise<HealthStatus>((resolve, reject) => {
    c.Check({ service }, new grpc.Metadata(), { deadline: new Date(Date.now() + 3000) }, (err, res) => {
      c.close()
      if (err) reject(err)
      else resolve(res!.status)
    })
  })
}

describe('gRPC: health, mutual TLS, stream checks (real etcd)', { skip: skipWithout('etcd') || (findBinary('openssl') ? undefined : 'openssl not found') }, () => {
  let etcd: EtcdInstance
  let dir: string
  let session: SessionNode
  let gateway: GatewayNode
  const store = new MemoryAuthKeyStore()
  const pem = (n: string): Buffer => readFileSync(join(dir, n))

  before(async () => {
    etcd = await startEtcd()
    dir = mkdtempSync(join(tmpdir(), 'mtgate-tls-'))
    makeCerts(dir)
    const tls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'node.pem'), key: join(dir, 'node.key') }
    const base = { etcd: etcd.endpoint, prefix: '/tls/', dataDir: makeDataDir(), clusterExtra: { tls } }
    session = await startSession({ ...base, nodeId: 's1' }, store)
    gateway = await startGateway({ ...base, nodeId: 'g1' })
    await waitFor(() => gateway.remote.ring.size === 1, 10_000, 'gateway stream to the session node over mTLS')
  })
  after(async () => {
    await gateway?.stop()
    await session?.stop()
    await etcd?.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  it('client traffic flows gateway → session node over mTLS', async () => {
    const key = new AuthKey(randomBytes(256))
    await store.put({ id: key.id, key: key.key, type: AuthKeyType.perm, createdAt: Math.floor(Date.now() / 1000) })
    const c = await RawClient.connect({ host: '127.0.0.1', port: gateway.addresses[0]!.port, key })
    try {
      assert.equal(((await c.invoke({ _: 'help.getNearestDc' })) as TlObject)._, 'nearestDc')
    } finally {
      c.close()
    }
  })

  it('health: SERVING on both nodes for a client with a cluster certificate', async () => {
    const creds = grpc.credentials.createSsl(pem('ca.pem'), pem('node.key'), pem('node.pem'))
    assert.equal(await check(session.address, creds), 'SERVING')
    assert.equal(await check(session.address, creds, 'mtgate.session.v1.Session'), 'SERVING')
    assert.equal(await check(gateway.address, creds), 'SERVING')
    await assert.rejects(check(session.address, creds, 'no.such.Service'), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND)
  })

  it('refused: no client certificate, a certificate from another CA, plaintext', async () => {
    await assert.rejects(check(session.address, grpc.credentials.createSsl(pem('ca.pem'))))
    await assert.rejects(check(session.address, grpc.credentials.createSsl(pem('ca.pem'), pem('intruder.key'), pem('intruder.pem'))))
    await assert.rejects(check(gateway.address, grpc.credentials.createInsecure()))
  })

  it('a Connect stream without a gateway id is refused with INVALID_ARGUMENT', async () => {
    const { SessionClient } = protos()
    const c = new SessionClient(session.address, grpc.credentials.createSsl(pem('ca.pem'), pem('node.key'), pem('node.pem')))
    try {
      const call = c.Connect(new grpc.Metadata())
      const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve))
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT)
    } finally {
      c.close()
    }
  })
})
