/**
 * The Python tests' fake Gemini REST server (tests/fakes/gemini.py) in a child process, for
 * a `fuze up` started with `FUZE_GEMINI_BASE_URL: gemini.baseUrl`. One key is valid:
 * `gemini.key`. Stopped by closing its stdin.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { REPO_ROOT } from './fuze';

export interface GeminiFake {
  baseUrl: string;
  key: string;
  stop(): Promise<void>;
}

export async function startGeminiFake(key = 'e2e-gemini-key'): Promise<GeminiFake> {
  const script = join(fileURLToPath(new URL('.', import.meta.url)), 'gemini_fake.py');
  const proc = spawn(join(REPO_ROOT, '.venv', 'bin', 'python'), [script], {
    cwd: REPO_ROOT,
    env: { ...process.env, E2E_GEMINI_KEY: key },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const baseUrl = await new Promise<string>((ok, fail) => {
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) ok(line.trim());
    });
    proc.on('exit', (code) => fail(new Error(`the fake Gemini exited (${code}) before it started`)));
  });
  return {
    baseUrl,
    key,
    stop: async () => {
      proc.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
