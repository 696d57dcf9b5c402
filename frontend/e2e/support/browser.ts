/**
 * Debian's chromium driven by playwright-core (no browser is ever downloaded).
 *
 *   const browser = await launchChromium();
 *   const page = await browser.newPage();
 *
 * ensureChromium() installs the `chromium` package with apt-get when /usr/bin/chromium is
 * missing (CI runs as root); `make test-frontend` does the same before the tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { type Browser, type LaunchOptions, chromium } from 'playwright-core';

export const CHROMIUM = process.env.FUZE_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const apt = { stdio: 'inherit' as const, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
  execFileSync('apt-get', ['update', '-qq'], apt);
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], apt);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is still missing after apt-get install chromium`);
  return CHROMIUM;
}

export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    headless: true,
    ...options,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
}
