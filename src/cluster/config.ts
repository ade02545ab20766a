/** The cluster config moved to src/config/cluster.ts; re-exported for existing importers (src/cli). */
export { loadClusterConfig, parseClusterSection, type ClusterConfig, type ClusterSettings, type ClusterTls } from '../config/cluster.js'
