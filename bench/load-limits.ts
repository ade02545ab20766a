/**
 * Source limits raised for load benches: every simulated client connects from 127.0.0.1, which
 * the per-address and per-prefix defaults (made for real clients) would refuse. An operator load
 * testing from one machine sets the same.
 */
export const LOAD_TEST_LIMITS = {
  max_connections_per_ip: 1_000_000,
  max_connections_per_prefix: 1_000_000,
  new_connections_per_second_per_ip: 1_000_000,
  new_connections_burst_per_ip: 1_000_000,
  new_connections_per_second_per_prefix: 1_000_000,
  new_connections_burst_per_prefix: 1_000_000,
  handshakes_per_second_per_ip: 1_000_000,
  handshakes_burst_per_ip: 1_000_000,
  handshakes_per_second_per_prefix: 1_000_000,
  handshakes_burst_per_prefix: 1_000_000,
}
