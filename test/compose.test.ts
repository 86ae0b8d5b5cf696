// End to end: Debian's docker-compose (1.29, Python, docker-py) drives Berth
// unchanged. Small busybox projects, one per test, each with its own project
// name; traffic goes only to loopback and to the containers they start.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { dockerOk, startDaemon, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { composeProject, type ComposeProject } from './helpers/compose.ts';
import { freePort } from './helpers/ports.ts';

let d: Daemon;
let IMAGE: string;
const projects: ComposeProject[] = [];

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});

after(async () => {
  for (const p of projects) await p.remove();
  await d?.cleanup();
});

async function project(files: Record<string, string>): Promise<ComposeProject> {
  const p = await composeProject(d, files);
  projects.push(p);
  return p;
}

const ok = async (args: string[]): Promise<string> => (await dockerOk(d, args)).trim();

/** Container IDs of a project's service (compose's own labels). */
async function ids(p: ComposeProject, service: string): Promise<string[]> {
  const out = await ok(['ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${p.name}`, '--filter', `label=com.docker.compose.service=${service}`]);
  return out.split('\n').filter(Boolean).sort();
}

function hostGet(port: number, urlPath = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(`GET ${urlPath} HTTP/1.0\r\n\r\n`));
    let out = '';
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

const sleeper = (extra = '') => `    image: berth-test/busybox\n    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]\n${extra}`;

test('up -d: project network and labels, reuse when unchanged, recreate on change, --force-recreate, --no-deps', async () => {
  const p = await project({
    'docker-compose.yml': `version: "3.7"\nservices:\n  web:\n${sleeper('    environment: [COLOR=blue]\n    depends_on: [db]\n')}  db:\n${sleeper()}`,
  });
  const up = await p.run(['up', '-d']);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, new RegExp(`Creating network "${p.name}_default"`));
  const [web1] = await ids(p, 'web');
  const [db1] = await ids(p, 'db');
  assert.ok(web1 && db1, 'one container per service');
  const web = JSON.parse(await ok(['inspect', web1!]))[0];
  assert.equal(web.Name, `/${p.name}_web_1`);
  assert.equal(web.Config.Labels['com.docker.compose.project'], p.name);
  assert.equal(web.Config.Labels['com.docker.compose.container-number'], '1');
  assert.ok(web.Config.Labels['com.docker.compose.config-hash'], 'config hash label');
  assert.ok(web.Config.Env.includes('COLOR=blue'));
  assert.deepEqual(Object.keys(web.NetworkSettings.Networks), [`${p.name}_default`]);
  const net = JSON.parse(await ok(['network', 'inspect', `${p.name}_default`]))[0];
  assert.equal(net.Labels['com.docker.compose.project'], p.name);
  assert.equal(net.Labels['com.docker.compose.network'], 'default');

  // Same file: nothing is recreated.
  const again = await p.run(['up', '-d']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`${p.name}_web_1 is up-to-date`));
  assert.deepEqual(await ids(p, 'web'), [web1]);
  assert.deepEqual(await ids(p, 'db'), [db1]);

  // A changed service is recreated (compose compares the config-hash label); the other one is kept.
  await p.write('docker-compose.yml', `version: "3.7"\nservices:\n  web:\n${sleeper('    environment: [COLOR=green]\n    depends_on: [db]\n')}  db:\n${sleeper()}`);
  const changed = await p.run(['up', '-d']);
  assert.equal(changed.code, 0, changed.stderr);
  assert.match(changed.stderr, new RegExp(`Recreating ${p.name}_web_1`));
  const [web2] = await ids(p, 'web');
  assert.notEqual(web2, web1);
  assert.deepEqual(await ids(p, 'db'), [db1]);
  assert.ok(JSON.parse(await ok(['inspect', web2!]))[0].Config.Env.includes('COLOR=green'));

  // --force-recreate --no-deps: only the named service, even though unchanged.
  const forced = await p.run(['up', '-d', '--force-recreate', '--no-deps', 'web']);
  assert.equal(forced.code, 0, forced.stderr);
  const [web3] = await ids(p, 'web');
  assert.notEqual(web3, web2);
  assert.deepEqual(await ids(p, 'db'), [db1]);
  const state = JSON.parse(await ok(['inspect', web3!]))[0].State;
  assert.equal(state.Running, true);

  const ps = await p.ok(['ps']);
  assert.match(ps, new RegExp(`${p.name}_web_1 .* Up`));
  assert.match(ps, new RegExp(`${p.name}_db_1 .* Up`));
  const psq = (await p.ok(['ps', '-q'])).split('\n').filter(Boolean).sort();
  assert.deepEqual(psq, [db1, web3].sort());

  await p.ok(['down', '-t', '1']);
  assert.deepEqual(await ids(p, 'web'), []);
  assert.equal((await d.docker(['network', 'inspect', `${p.name}_default`])).code, 1, 'project network removed');
});

test('service names and aliases resolve through the embedded DNS, round robin over a scaled service', async () => {
  const p = await project({
    'docker-compose.yml': `version: "3.7"\nservices:\n  client:\n${sleeper()}  api:\n${sleeper('    networks:\n      default:\n        aliases: [backend]\n')}`,
  });
  await p.ok(['up', '-d', '--scale', 'api=3']);
  const apis = await ids(p, 'api');
  assert.equal(apis.length, 3);
  const addrs = new Set<string>();
  for (const id of apis) {
    const info = JSON.parse(await ok(['inspect', id]))[0];
    addrs.add(info.NetworkSettings.Networks[`${p.name}_default`].IPAddress);
  }
  assert.equal(addrs.size, 3);
  const resolved = (out: string) =>
    new Set(
      out
        .split('Name:')
        .slice(1)
        .map((b) => /Address:\s*([\d.]+)/.exec(b)?.[1])
        .filter(Boolean),
    );
  for (const name of ['api', 'backend']) {
    const out = await p.ok(['exec', '-T', 'client', 'nslookup', name, '127.0.0.11']);
    assert.deepEqual([...resolved(out)].sort(), [...addrs].sort(), `${name} resolves to every replica:\n${out}`);
  }
  // Round robin: the first answer is not always the same replica.
  const firsts = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const out = await p.ok(['exec', '-T', 'client', 'nslookup', 'api', '127.0.0.11']);
    firsts.add([...resolved(out)][0]!);
  }
  assert.ok(firsts.size > 1, `answers rotate (first answers: ${[...firsts].join(', ')})`);
  // Container names (project_service_n) and the short service name from a replica.
  const out = await p.ok(['exec', '-T', '--index=2', 'api', 'nslookup', 'client', '127.0.0.11']);
  assert.equal(resolved(out).size, 1);

  // Scaling down removes the highest numbers.
  await p.ok(['up', '-d', '--scale', 'api=1']);
  const left = await ids(p, 'api');
  assert.equal(left.length, 1);
  assert.equal(JSON.parse(await ok(['inspect', left[0]!]))[0].Name, `/${p.name}_api_1`);
});

test('named volumes outlive down and up; down -v removes them', async () => {
  const p = await project({
    'docker-compose.yml': `version: "3.7"\nservices:\n  box:\n${sleeper('    volumes: [store:/data]\n')}volumes:\n  store: {}\n`,
  });
  await p.ok(['up', '-d']);
  await p.ok(['exec', '-T', 'box', 'sh', '-c', 'echo kept-across-down > /data/f']);
  const vol = JSON.parse(await ok(['volume', 'inspect', `${p.name}_store`]))[0];
  assert.equal(vol.Labels['com.docker.compose.project'], p.name);
  await p.ok(['down', '-t', '1']);
  assert.deepEqual(await ids(p, 'box'), []);
  await ok(['volume', 'inspect', `${p.name}_store`]);
  await p.ok(['up', '-d']);
  assert.equal((await p.ok(['exec', '-T', 'box', 'cat', '/data/f'])).trim(), 'kept-across-down');
  await p.ok(['down', '-v', '-t', '1']);
  assert.equal((await d.docker(['volume', 'inspect', `${p.name}_store`])).code, 1, 'volume removed by down -v');
});

test('ports, environment and env_file, exec, logs --tail, run --rm, top, port', async () => {
  const port = await freePort();
  const p = await project({
    'docker-compose.yml': [
      'version: "2.4"',
      'services:',
      '  web:',
      '    image: berth-test/busybox',
      `    command: ["sh", "-c", "mkdir -p /www && echo \\"hello $$GREETING $$FROM_FILE\\" > /www/index.html && echo web-ready && exec httpd -f -p 8080 -h /www"]`,
      '    init: true',
      '    environment:',
      '      GREETING: compose',
      '    env_file: [web.env]',
      `    ports: ["127.0.0.1:${port}:8080"]`,
      '',
    ].join('\n'),
    'web.env': 'FROM_FILE=from-env-file\n# comments are skipped\n',
  });
  await p.ok(['up', '-d']);
  let body = '';
  for (let i = 0; i < 100 && !body.includes('hello'); i++) {
    body = await hostGet(port).catch(() => '');
    if (!body.includes('hello')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(body, /hello compose from-env-file/);
  assert.equal((await p.ok(['port', 'web', '8080'])).trim(), `127.0.0.1:${port}`);
  assert.equal((await p.ok(['exec', '-T', 'web', 'sh', '-c', 'echo $GREETING-$FROM_FILE'])).trim(), 'compose-from-env-file');
  const exec = await p.run(['exec', '-T', 'web', 'sh', '-c', 'exit 3']);
  assert.equal(exec.code, 3, 'exec passes the exit code on');
  const logs = await p.ok(['logs', '--tail', '1', 'web']);
  assert.match(logs, /web_1 +\| web-ready/);
  const top = await p.ok(['top', 'web']);
  assert.match(top, /httpd -f -p 8080/);
  const run = await p.run(['run', '--rm', '-T', 'web', 'sh', '-c', 'echo run-$GREETING; exit 4']);
  assert.equal(run.code, 4, run.stderr);
  assert.match(run.stdout, /run-compose/);
  const all = await ok(['ps', '-a', '--format', '{{.Names}}', '--filter', `label=com.docker.compose.project=${p.name}`]);
  assert.deepEqual(all.split('\n'), [`${p.name}_web_1`], 'run --rm left nothing behind');
});

test('restart, stop, start, rm and a restart policy', async () => {
  const p = await project({
    'docker-compose.yml': [
      'version: "3.7"',
      'services:',
      '  svc:',
      sleeper().trimEnd(),
      '  flaky:',
      '    image: berth-test/busybox',
      '    command: ["sh", "-c", "echo attempt; exit 1"]',
      '    restart: on-failure:2',
      '',
    ].join('\n'),
  });
  await p.ok(['up', '-d']);
  const [svc] = await ids(p, 'svc');
  const started1 = JSON.parse(await ok(['inspect', svc!]))[0].State.StartedAt;
  await p.ok(['restart', '-t', '1', 'svc']);
  const s2 = JSON.parse(await ok(['inspect', svc!]))[0].State;
  assert.equal(s2.Running, true, 'running after restart');
  assert.notEqual(s2.StartedAt, started1);
  await p.ok(['stop', '-t', '1', 'svc']);
  assert.equal(JSON.parse(await ok(['inspect', svc!]))[0].State.Running, false);
  assert.match(await p.ok(['ps']), /svc_1 .* Exit 0/);
  await p.ok(['start', 'svc']);
  assert.equal(JSON.parse(await ok(['inspect', svc!]))[0].State.Running, true);

  // on-failure:2 -> the first run and two restarts, then it stays down.
  const [flaky] = await ids(p, 'flaky');
  let st: any;
  for (let i = 0; i < 100; i++) {
    st = JSON.parse(await ok(['inspect', flaky!]))[0];
    if (st.RestartCount === 2 && !st.State.Running && !st.State.Restarting) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(st.RestartCount, 2);
  assert.equal(st.State.ExitCode, 1);
  assert.equal((await p.ok(['logs', 'flaky'])).match(/attempt/g)?.length, 3);

  await p.ok(['stop', '-t', '1']);
  await p.ok(['rm', '-f']);
  assert.deepEqual(await ids(p, 'svc'), []);
  assert.deepEqual(await ids(p, 'flaky'), []);
});

test('up in the foreground streams logs through attach and ends with the containers', async () => {
  const p = await project({
    'docker-compose.yml': `services:\n  once:\n    image: berth-test/busybox\n    command: ["sh", "-c", "echo out-line; echo err-line >&2; exit 0"]\n`,
  });
  const r = await p.run(['up', '--exit-code-from', 'once']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /once_1 +\| out-line/);
  assert.match(r.stdout, /once_1 +\| err-line/);
  const f = await p.run(['logs', '--no-color', 'once']);
  assert.match(f.stdout, /out-line/);
  await p.ok(['down']);
});

test('down --remove-orphans and --rmi all; config', async () => {
  const p = await project({
    'docker-compose.yml': `version: "3.7"\nservices:\n  main:\n${sleeper()}`,
    'extra.yml': `version: "3.7"\nservices:\n  side:\n${sleeper()}`,
  });
  const config = await p.ok(['config']);
  assert.match(config, /main:\n\s+command:/);
  assert.deepEqual((await p.ok(['config', '--services'])).trim().split('\n'), ['main']);
  await p.ok(['-f', 'docker-compose.yml', '-f', 'extra.yml', 'up', '-d']);
  assert.equal((await ids(p, 'side')).length, 1);
  const up = await p.run(['up', '-d']);
  assert.match(up.stderr, /Found orphan containers/);
  await p.ok(['down', '-t', '1', '--remove-orphans']);
  assert.deepEqual(await ids(p, 'side'), []);
  assert.deepEqual(await ids(p, 'main'), []);
  // --rmi all removes the images the services use: here a tag of this project's own.
  const own = `berth-test/busybox:${p.name}`;
  await ok(['tag', IMAGE, own]);
  await p.write('docker-compose.yml', `version: "3.7"\nservices:\n  main:\n${sleeper().replace('berth-test/busybox', own)}`);
  await p.ok(['up', '-d']);
  const down = await p.ok(['down', '-t', '1', '--rmi', 'all']);
  assert.equal((await d.docker(['image', 'inspect', own])).code, 1, `image removed: ${down}`);
  await ok(['image', 'inspect', IMAGE]);
});

test('logs -f follows until the containers end; events --json reports the project containers', async () => {
  const p = await project({
    'docker-compose.yml': `version: "3.7"\nservices:\n  talker:\n    image: berth-test/busybox\n    command: ["sh", "-c", "echo one; sleep 1; echo two"]\n  other:\n${sleeper()}`,
  });
  await p.ok(['up', '-d']);
  const follow = await p.run(['logs', '-f', '--no-color', 'talker'], { timeoutMs: 30_000 });
  assert.equal(follow.code, 0, follow.stderr);
  assert.match(follow.stdout, /talker_1 +\| one\n[^]*talker_1 +\| two/);

  const events = p.background(['events', '--json']);
  // Events flow once compose has opened the stream, which it does not announce: restart until one
  // whole restart shows (a stream opened mid-restart sees its restart event but not its die).
  const seenWhole = () => events.output().includes('"action": "restart"') && events.output().includes('"action": "die"');
  for (let i = 0; i < 30 && !seenWhole(); i++) {
    await p.ok(['restart', '-t', '1', 'other']);
    for (let j = 0; j < 10 && !seenWhole(); j++) await new Promise((r) => setTimeout(r, 100));
  }
  const r = await events.stop();
  const parsed = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { action: string; service: string; attributes: Record<string, string> });
  const restarts = parsed.filter((e) => e.action === 'restart');
  assert.ok(restarts.length >= 1, `a restart event: ${r.stdout}${r.stderr}`);
  assert.ok(restarts.every((e) => e.service === 'other' && e.attributes.name === `${p.name}_other_1`));
  assert.ok(parsed.some((e) => e.action === 'die' && e.service === 'other'), 'die event of the stop');
  await p.ok(['down', '-t', '1']);
});
