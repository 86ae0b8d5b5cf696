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
  };
}
