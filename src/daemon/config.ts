// Daemon configuration from flags and environment (flags win).
import { parseArgs } from 'node:util';
import { isLevel, type Level } from './logger.ts';

export interface DaemonConfig {
  dataRoot: string;
  runRoot: string;
  socket: string;
  logLevel: Level;
  nodeName: string;
  cgroupParent: string;
  /** Marks everything this daemon creates on the host's network (bridges, namespaces, chains): 1-6 of [a-z0-9]. */
  networkTag: string;
  /** The default bridge's device (default <tag>0) and subnet (default: the first free pool). */
  bridgeName?: string;
  defaultSubnet?: string;
}

export function readConfig(argv: string[], env: NodeJS.ProcessEnv): DaemonConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'data-root': { type: 'string' },
      'run-root': { type: 'string' },
      socket: { type: 'string' },
      'log-level': { type: 'string' },
      'node-name': { type: 'string' },
      'cgroup-parent': { type: 'string' },
      'network-tag': { type: 'string' },
      'bridge-name': { type: 'string' },
      'default-subnet': { type: 'string' },
    },
    strict: true,
  });
  const dataRoot = values['data-root'] ?? env.BERTH_DATA_ROOT ?? '/var/lib/berth';
  const runRoot = values['run-root'] ?? env.BERTH_RUN_ROOT ?? '/run/berth';
  const logLevel = values['log-level'] ?? env.BERTH_LOG_LEVEL ?? 'warn';
  if (!isLevel(logLevel)) throw new Error(`--log-level must be one of debug, info, warn, error (got ${logLevel})`);
  return {
    dataRoot,
    runRoot,
    socket: values.socket ?? env.BERTH_SOCKET ?? `${runRoot}/docker.sock`,
    logLevel,
    nodeName: values['node-name'] ?? env.BERTH_NODE_NAME ?? 'local',
    cgroupParent: values['cgroup-parent'] ?? env.BERTH_CGROUP_PARENT ?? 'berth',
    networkTag: values['network-tag'] ?? env.BERTH_NETWORK_TAG ?? 'berth',
    bridgeName: values['bridge-name'] ?? env.BERTH_BRIDGE_NAME,
    defaultSubnet: values['default-subnet'] ?? env.BERTH_DEFAULT_SUBNET,
  };
}
