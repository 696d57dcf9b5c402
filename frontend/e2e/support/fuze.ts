/**
 * A real Fuze for end-to-end tests: `fuze up` (embedded PostgreSQL + Valkey, migrations, API,
 * one worker, the built SPA at /) on a free port with its data in a temporary folder.
 *
 *   import { startFuze, registerUser } from '../../frontend/e2e/support/fuze';
 *   const fuze = await startFuze();            // waits for /api/health/ready
 *   const user = await registerUser(fuze);     // { username, password, access_token, ... }
 *   ... fuze.url('/api/bookmarks') ...
 *   await fuze.stop();                          // SIGTERM, waits; removes the data folder
 *
 * The worker is allowed to fetch loopback pages (FUZE_ALLOW_PRIVATE_NETWORKS, as the Python
 * tests' PIPELINE_ENV does) so that it can save pages from `startPages()`; retries and
 * timeouts are shortened, rate limits are off and password hashing is cheap.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (frontend/e2e/support/../../..). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** The settings the Python tests give their API and worker (tests/conftest.py PIPELINE_ENV). */
export const TEST_ENV: Record<string, string> = {
  FUZE_ENV: 'test',
  FUZE_ALLOW_PRIVATE_NETWORKS: 'true', // the test pages are served on 127.0.0.1
  FUZE_FETCH_TIMEOUT_SECONDS: '5',
  FUZE_SWEEP_INTERVAL_SECONDS: '1',
  FUZE_SWEEP_STALE_SECONDS: '10',
  FUZE_PIPELINE_JOB_TIMEOUT_SECONDS: '30',
  FUZE_PIPELINE_RETRY_BASE_SECONDS: '0.2',
  FUZE_RATE_LIMIT_ENABLED: 'false',
  FUZE_ARGON2_TIME_COST: '1',
  FUZE_ARGON2_MEMORY_KIB: '8192',
  FUZE_LOG_JSON: 'false',
  // One API process (fuze up's default is one per core): each holds its own model, and the
  // test machines are shared.
  FUZE_API_WORKERS: '1',
  HF_HUB_OFFLINE: '1',
  TRANSFORMERS_OFFLINE: '1',
};

export interface StartOptions {
  /** Extra or overriding environment variables for `fuze up` (e.g. FUZE_RATE_LIMIT_ENABLED). */
  env?: Record<string, string>;
  /** Keep data here instead of a fresh temporary folder (not removed by stop()). */
  dataDir?: string;
  port?: number;
  /** How long to wait for /api/health/ready (default 180 s: the first start loads the model). */
  readyTimeoutMs?: number;
  /** Print fuze up's output as it comes (default: only when it fails; FUZE_E2E_VERBOSE=1). */
  verbose?: boolean;
}

export interface Fuze {
  /** e.g. http://127.0.0.1:41234 (the SPA at /, the API at /api). */
  baseUrl: string;
  port: number;
  dataDir: string;
  /** baseUrl + path */
  url(path: string): string;
  /** fuze up's output so far (for failure messages). */
  output(): string;
  /** SIGTERM, wait for every child to stop (SIGKILL after 60 s), remove a temporary data folder. */
  stop(): Promise<void>;
}

/** A TCP port nothing listens on right now (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `fuze up` on a free port; resolves once /api/health/ready answers 200. */
export async function startFuze(options: StartOptions = {}): Promise<Fuze> {
  // For iterating on tests: FUZE_E2E_BASE_URL=http://127.0.0.1:8000 reuses a running Fuze
  // (started with TEST_ENV) instead of starting one; stop() then leaves it running.
  const reuse = process.env.FUZE_E2E_BASE_URL;
  if (reuse) {
    const base = reuse.replace(/\/$/, '');
    return { baseUrl: base, port: Number(new URL(base).port), dataDir: '', url: (p) => base + p, output: () => '', stop: async () => {} };
  }
  const fuzeBin = join(REPO_ROOT, '.venv', 'bin', 'fuze');
  if (!existsSync(fuzeBin)) throw new Error(`${fuzeBin} is missing: run \`make install\` first`);
  const port = options.port ?? (await freePort());
  const ownDir = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'fuze-e2e-'));
  const verbose = options.verbose ?? process.env.FUZE_E2E_VERBOSE === '1';
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Settings from the developer's shell or .env must not leak into the test server.
    if (v !== undefined && !k.startsWith('FUZE_')) env[k] = v;
  }
  Object.assign(env, TEST_ENV, options.env ?? {});

  const proc: ChildProcess = spawn(
    fuzeBin,
    ['up', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir],
    { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    out += text;
    if (out.length > 400_000) out = out.slice(-200_000);
    if (verbose) process.stderr.write(text);
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  let done = false;
  exited.then(() => (done = true));

  const baseUrl = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;
  const fuze: Fuze = {
    baseUrl,
    port,
    dataDir,
    url: (path) => baseUrl + path,
    output: () => out,
    stop() {
      stopped ??= (async () => {
        if (!done) {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
          await exited;
          clearTimeout(timer);
        }
        if (ownDir) rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 180_000);
  let last = '';
  while (Date.now() < deadline) {
    if (done) {
      await fuze.stop();
      throw new Error(`fuze up exited before it was ready:\n${out.slice(-6000)}`);
    }
    try {
      const res = await fetch(`${baseUrl}/api/health/ready`, { signal: AbortSignal.timeout(3000) });
      if (res.ok) return fuze;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = String(err);
    }
    await sleep(300);
  }
  await fuze.stop();
  throw new Error(`fuze up was not ready in time (last: ${last}):\n${out.slice(-6000)}`);
}

export interface TestUser {
  username: string;
  email: string;
  password: string;
  access_token: string;
  refresh_token: string;
  /** { Authorization: 'Bearer <access token>' } */
  headers: Record<string, string>;
}

let userCounter = 0;

/** Register a fresh account through the API and sign it in. */
export async function registerUser(fuze: Pick<Fuze, 'url'>, name?: string): Promise<TestUser> {
  userCounter += 1;
  const username = name ?? `user${Date.now().toString(36)}${userCounter}`;
  const email = `${username}@example.com`;
  const password = 'correct horse battery staple';
  const json = { 'Content-Type': 'application/json' };
  const reg = await fetch(fuze.url('/api/auth/register'), {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ username, email, password }),
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
  const login = await fetch(fuze.url('/api/auth/login'), {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ login: username, password }),
  });
  if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
  const tokens = (await login.json()) as { access_token: string; refresh_token: string };
  return {
    username,
    email,
    password,
    ...tokens,
    headers: { Authorization: `Bearer ${tokens.access_token}` },
  };
}

/** Poll `check` until it returns a truthy value (or throw after `timeoutMs`). */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  { timeoutMs = 60_000, intervalMs = 250, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
