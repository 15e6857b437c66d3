/**
 * docker-compose.yml and the Dockerfile, read as files (no Docker engine
 * here): host ports that leave a local broker, Redis and `warden run` alone,
 * the config mounted (hot reload, overrides/), a health check on /readyz that
 * really answers by it, secrets from the environment, a supported Node LTS,
 * EXPOSE of the ops port and a non-root user. test/integration/kafka-broker.test.ts
 * checks the Kafka side (version, listeners, topics).
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { startOpsServer } from '../../src/ops/http.js';
import { ENVIRONMENT, settingsFromEnv } from '../../src/service/settings.js';

interface Service {
  image?: string;
  command?: string[];
  user?: string;
  ports?: string[];
  environment?: Record<string, string | number | null>;
  env_file?: Array<{ path: string; required?: boolean }>;
  volumes?: Array<{ type: string; source: string; target: string; read_only?: boolean }>;
  healthcheck?: { test: string[] };
}
const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service> };
const { kafka, redis, warden } = compose.services as Record<'kafka' | 'redis' | 'warden', Service>;
const dockerfile = readFileSync('Dockerfile', 'utf8').replace(/\\\n\s*/g, '').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const finalStage = dockerfile.slice(dockerfile.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
const instruction = (name: string): string[] => finalStage.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

/** `${VAR:-default}` with the default taken, as compose does when VAR is unset. */
const withDefaults = (s: string): string => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const DEFAULT_HTTP_PORT = settingsFromEnv({ WARDEN_COMMAND_KEYS: `k=${Buffer.alloc(32, 1).toString('base64')}` }).http.port;

function published(s: Service): Array<{ bind: string; host: number; container: number; raw: string }> {
  return (s.ports ?? []).map((raw) => {
    const m = /^([\d.]+):(.+):(\d+)$/.exec(raw);
    expect(m, `port ${raw}: bind address:host port:container port`).not.toBeNull();
    return { bind: m![1]!, host: Number(withDefaults(m![2]!)), container: Number(m![3]), raw };
  });
}

function exitCode(cmd: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

describe('docker-compose.yml', () => {
  it('publishes on 127.0.0.1 only, by default on ports a local broker, Redis or warden run do not use', () => {
    const ports = { kafka: published(kafka), redis: published(redis), warden: published(warden) };
    expect(ports.kafka.map((p) => [p.host, p.container])).toEqual([[19092, 9092]]);
    expect(ports.redis.map((p) => [p.host, p.container])).toEqual([[16379, 6379]]);
    expect(ports.warden.map((p) => [p.host, p.container])).toEqual([[19400, DEFAULT_HTTP_PORT]]);
    for (const p of Object.values(ports).flat()) {
      expect(p.bind, p.raw).toBe('127.0.0.1');
      expect([9092, 6379, 9400], p.raw).not.toContain(p.host);
    }
    // Each host port can be moved with one variable.
    expect(kafka.ports![0]).toContain('${HOST_KAFKA_PORT:-19092}');
    expect(redis.ports![0]).toContain('${HOST_REDIS_PORT:-16379}');
    expect(warden.ports![0]).toContain('${HOST_WARDEN_PORT:-19400}');
  });

  it('advertises to host clients the host port it publishes, whatever HOST_KAFKA_PORT says', () => {
    const advertised = String(kafka.environment!.KAFKA_ADVERTISED_LISTENERS);
    const host = /^127\.0\.0\.1:(.+):9092$/.exec(kafka.ports![0]!)![1]!;
    expect(advertised.split(',')).toContain(`PLAINTEXT://127.0.0.1:${host}`);
    expect(String(kafka.environment!.KAFKA_LISTENERS)).toContain('PLAINTEXT://:9092');
  });

  it('mounts the config directory read-only where warden run reads it, so reloads and overrides/ come from the host', () => {
    const mount = warden.volumes?.find((v) => v.target === '/app/config');
    expect(mount).toMatchObject({ type: 'bind', read_only: true });
    expect(mount!.source).toBe('${WARDEN_CONFIG_DIR:-./config}');
    expect(existsSync(`${withDefaults(mount!.source)}/detectors.yaml`)).toBe(true);
    const config = (cmd: string[]) => cmd[cmd.indexOf('--config') + 1];
    expect(config(warden.command!)).toBe('/app/config');
    expect(config(JSON.parse(instruction('CMD')[0]!) as string[])).toBe('/app/config');
  });

  it('takes the secrets from the environment or .env, never from the file or the image', () => {
    const env = warden.environment!;
    expect(String(env.WARDEN_COMMAND_KEYS)).toMatch(/^\$\{WARDEN_COMMAND_KEYS:\?.+\}$/);
    // No value: passed through when set, else unset (an empty key id would not be "unset").
    const passed = ['WARDEN_COMMAND_KEY_ID', 'WARDEN_OPERATOR_KEYS', 'WARDEN_OPERATOR_KEY_ID', 'WARDEN_STATUS_TOKENS'];
    for (const name of passed) {
      expect(ENVIRONMENT, name).toContain(name);
      expect(name in env && env[name] === null, name).toBe(true);
    }
    // A key or token setting added to the service is passed here too.
    expect(ENVIRONMENT.filter((n) => /^WARDEN_.*(KEYS|KEY_ID|TOKENS)$/.test(n)).sort()).toEqual([...passed, 'WARDEN_COMMAND_KEYS'].sort());
    // Receivers' secretEnv / routingKeyEnv names are the user's: all of .env goes through.
    expect(warden.env_file).toEqual([{ path: '.env', required: false }]);
    for (const [name, value] of Object.entries(env)) {
      if (/KEYS|PASSWORD|SECRET/.test(name)) expect(value === null || /^\$\{/.test(String(value)), name).toBe(true);
    }
    expect(String(env.WARDEN_HTTP_PORT)).toBe(String(DEFAULT_HTTP_PORT));
  });

  it('checks warden\'s health on /readyz with the same command as the image', () => {
    expect(warden.healthcheck!.test[0]).toBe('CMD');
    expect(warden.healthcheck!.test.slice(1)).toEqual(JSON.parse(instruction('HEALTHCHECK')[0]!.replace(/^.*?CMD\s+/, '')));
    expect(warden.healthcheck!.test.join(' ')).toContain('/readyz');
  });
});

describe('Dockerfile', () => {
  it('builds and runs on a supported Node LTS line (22 or 24)', () => {
    const froms = dockerfile.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]!);
    expect(froms.length).toBeGreaterThan(0);
    for (const image of froms) expect(image).toMatch(/^node:(22|24)(-[a-z]+)?$/);
  });

  it('exposes the ops port', () => {
    expect(instruction('EXPOSE')).toEqual([String(DEFAULT_HTTP_PORT)]);
  });

  it('runs as a non-root user, after making everything it reads readable and nothing it reads writable by it', () => {
    const users = instruction('USER');
    expect(users).toHaveLength(1);
    expect(['root', '0', '0:0']).not.toContain(users[0]);
    const at = (prefix: string) => finalStage.findIndex((l) => l.startsWith(prefix));
    const lastCopy = finalStage.map((l) => l.startsWith('COPY ')).lastIndexOf(true);
    const chmod = at('RUN chmod -R a+rX,go-w /app');
    expect(chmod).toBeGreaterThan(lastCopy);
    expect(at('USER ')).toBeGreaterThan(chmod);
    expect(finalStage.some((l) => l.startsWith('COPY') && l.includes('--chown'))).toBe(false);
  });

  it('copies into the image every path the npm package ships, and Warden runs from just those (npm run build first)', async () => {
    const shipped = (JSON.parse(readFileSync('package.json', 'utf8')) as { files: string[] }).files;
    // The final stage's copies: `COPY --from=build /app/X ./X` (built here) and `COPY a b ./` (from the context).
    const copies = instruction('COPY').map((c) => c.split(/\s+/));
    const fromBuild = copies.filter((c) => c[0] === '--from=build').map((c) => ({ src: c[1]!.replace(/^\/app\//, ''), dest: c[2]!.replace(/^\.\//, '') }));
    for (const f of fromBuild) expect(f.dest, `COPY ${f.src}`).toBe(f.src);
    expect(fromBuild.map((f) => f.src).sort()).toEqual([...shipped].sort());
    const fromContext = copies.filter((c) => !c[0]!.startsWith('--')).flatMap((c) => c.slice(0, -1));
    expect(fromContext.sort()).toEqual(['package-lock.json', 'package.json']);

    const app = mkdtempSync(join(tmpdir(), 'warden-image-'));
    try {
      for (const p of [...fromContext, ...fromBuild.map((f) => f.src)]) cpSync(p, join(app, p), { recursive: true });
      symlinkSync(resolve('node_modules'), join(app, 'node_modules'));
      const run = (args: string[]) => promisify(execFile)(process.execPath, ['bin/warden.js', ...args], { cwd: app, env: { ...process.env, NODE_ENV: 'production' } });
      expect((await run(['--version'])).stdout.trim()).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
      expect((await run(['validate-config', 'config', '--skip-env'])).stdout).toMatch(/^config: ok \(version /);
      // The Lua scripts `warden run` loads into Redis are found in the image's layout.
      const loader = join(app, 'dist/src/state/script-loader.js');
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(loader)}); console.log(m.loadScripts().length)`]);
      expect(Number(stdout)).toBeGreaterThan(0);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('has a health check that exits 0 when /readyz is 200 and 1 when it is 503 or nothing answers', async () => {
    const cmd = JSON.parse(instruction('HEALTHCHECK')[0]!.replace(/^.*?CMD\s+/, '')) as string[];
    expect(cmd[0]).toBe('node');
    let why: string | null = 'starting: connecting to Kafka';
    const ops = await startOpsServer({ notReady: async () => why, metrics: () => '' }, 0, '127.0.0.1');
    try {
      const env = { ...process.env, WARDEN_HTTP_PORT: String(ops.port) };
      expect(await exitCode([process.execPath, ...cmd.slice(1)], env)).toBe(1);
      why = null;
      expect(await exitCode([process.execPath, ...cmd.slice(1)], env)).toBe(0);
    } finally {
      await ops.close();
    }
    expect(await exitCode([process.execPath, ...cmd.slice(1)], { ...process.env, WARDEN_HTTP_PORT: String(ops.port) })).toBe(1);
  });
});
