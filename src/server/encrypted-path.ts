/** The encrypted path moved to src/gateway/encrypted.ts (its layer); this path keeps existing imports working. */
export * from '../gateway/encrypted.js'
