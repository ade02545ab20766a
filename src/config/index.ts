export type * from './types.js'
export { DEFAULTS, DEFAULT_LIMITS, DEFAULT_TELEGRAM_CONFIG } from './defaults.js'
export { ConfigError, ConfigErrors, configErrorList, loadConfig, parseConfig, readConfigFile, type Env, type LoadOptions } from './load.js'
export { loadClusterConfig, parseClusterSection, type ClusterConfig, type ClusterSettings, type ClusterTls } from './cluster.js'
