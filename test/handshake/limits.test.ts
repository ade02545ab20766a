/** HandshakeRateLimiter: the token buckets per source address and per source prefix. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_HANDSHAKE_RATE, HandshakeRateLimiter } from '../../src/handshake/limits.js'
import { ManualClock } from '../../src/util/clock.js'

/** The answers of `n` starts from `ip`, in order. */
const starts = (l: HandshakeRateLimiter, ip: string, n: number) => Array.from({ length: n }, () => l.start(ip))

describe('HandshakeRateLimiter', () => {
  it('per address: the burst, then rate_ip until the bucket refills; the IPv4-mapped form is the same address', () => {
    const clock = new ManualClock(0)
    const l = new HandshakeRateLimiter({ perSecondPerIp: 2, burstPerIp: 3, perSecondPerPrefix: 100, burstPerPrefix: 100 }, clock)
    assert.deepEqual(starts(l, '198.51.100.7', 4), [undefined, undefined, undefined, 'rate_ip'])
    assert.equal(l.start('::ffff:198.51.100.7'), 'rate_ip')
    assert.equal(l.start('198.51.100.8'), undefined, 'another address of the /24 has its own bucket')
    clock.advance(499)
    assert.equal(l.start('198.51.100.7'), 'rate_ip', '2/s: no whole token after 499 ms')
    clock.advance(1)
    assert.equal(l.start('198.51.100.7'), undefined, 'one token after 500 ms')
    assert.equal(l.start('198.51.100.7'), 'rate_ip')
    assert.equal(l.refused, 4)
    assert.deepEqual(l.refusedBy, { rate_ip: 4, rate_prefix: 0 })
  })

  it('per prefix: addresses each under their own rate share their /24 (IPv6 /64) bucket', () => {
    const clock = new ManualClock(0)
    const l = new HandshakeRateLimiter({ perSecondPerIp: 1, burstPerIp: 2, perSecondPerPrefix: 1, burstPerPrefix: 5 }, clock)
    assert.deepEqual(starts(l, '10.1.1.1', 2), [undefined, undefined])
    assert.deepEqual(starts(l, '10.1.1.2', 2), [undefined, undefined])
    assert.deepEqual(starts(l, '10.1.1.3', 2), [undefined, 'rate_prefix'])
    assert.equal(l.start('10.1.2.1'), undefined, 'another /24')
    assert.deepEqual(starts(l, '2001:db8:1:2::1', 2), [undefined, undefined])
    assert.deepEqual(starts(l, '2001:db8:1:2:ffff::9', 2), [undefined, undefined])
    assert.deepEqual(starts(l, '2001:db8:1:2::3', 2), [undefined, 'rate_prefix'], 'the /64 holds 5')
    assert.equal(l.start('2001:db8:1:3::1'), undefined, 'another /64')
    assert.deepEqual(l.refusedBy, { rate_ip: 0, rate_prefix: 2 })
  })

  it('an address over its own rate spends none of its prefix: its neighbours keep the rest', () => {
    const clock = new ManualClock(0)
    const l = new HandshakeRateLimiter({ perSecondPerIp: 1, burstPerIp: 2, perSecondPerPrefix: 1, burstPerPrefix: 4 }, clock)
    const flood = starts(l, '10.2.2.2', 1000)
    assert.deepEqual(flood.slice(0, 3), [undefined, undefined, 'rate_ip'])
    assert.equal(flood.filter((r) => r === undefined).length, 2)
    assert.deepEqual(starts(l, '10.2.2.3', 2), [undefined, undefined], 'the prefix still had 2 tokens')
    assert.equal(l.start('10.2.2.4'), 'rate_prefix')
    assert.deepEqual(l.refusedBy, { rate_ip: 998, rate_prefix: 1 })
  })

  it('defaults: the address bucket is smaller than the prefix bucket; options not given keep theirs', () => {
    const d = DEFAULT_HANDSHAKE_RATE
    assert.ok(d.perSecondPerIp < d.perSecondPerPrefix && d.burstPerIp < d.burstPerPrefix)
    assert.deepEqual(new HandshakeRateLimiter().options, d)
    const l = new HandshakeRateLimiter({ burstPerIp: 1 }, new ManualClock(0))
    assert.deepEqual(l.options, { ...d, burstPerIp: 1 })
    assert.deepEqual(starts(l, '10.3.3.3', 2), [undefined, 'rate_ip'])
  })
})
