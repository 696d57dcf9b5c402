/** One visual identity: the extension's colours are the web app's, in light and dark. */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const web = read('../../frontend/src/styles.css');
const ext = read('../static/ui.css');

/** The custom properties declared in the first block that `opening` starts. */
function variables(css: string, opening: RegExp): Record<string, string> {
  const start = css.search(opening);
  expect(start, `no block ${opening}`).toBeGreaterThanOrEqual(0);
  const body = css.slice(start, css.indexOf('}', start));
  return Object.fromEntries([...body.matchAll(/(--[\w-]+)\s*:\s*([^;]+);/g)].map((m) => [m[1], m[2].trim()]));
}

const COLOURS = ['--bg', '--surface', '--surface-2', '--text', '--muted', '--border', '--accent', '--accent-text',
  '--accent-soft', '--danger', '--danger-soft', '--ok', '--ok-soft', '--warn', '--warn-soft', '--focus'];
const pick = (vars: Record<string, string>) => Object.fromEntries(COLOURS.map((name) => [name, vars[name]]));

describe('the extension’s palette', () => {
  it('is the web app’s light theme', () => {
    const light = pick(variables(web, /^:root\s*\{/m));
    expect(light['--accent']).toBeDefined();
    expect(pick(variables(ext, /^:root\s*\{/m))).toEqual(light);
  });

  it('is the web app’s dark theme when the system is dark', () => {
    const dark = pick(variables(web, /^:root\[data-theme='dark'\]\s*\{/m));
    expect(dark['--accent']).toBeDefined();
    expect(pick(variables(ext, /@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{/))).toEqual(dark);
  });

  it('uses the web app’s typeface', () => {
    const family = (css: string) => /^\s*font-family:\s*([^;]+);/m.exec(css)?.[1];
    expect(family(ext)).toBe(family(web));
  });

  it('names no colour outside the palette', () => {
    // Every colour is a variable, so a theme is one block (the old popup had a stray orange).
    const rules = ext.replace(/^:root\s*\{[^}]*\}/m, '').replace(/@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{[^}]*\}\s*\}/, '');
    expect(rules.match(/#[0-9a-f]{3,8}\b/gi) ?? []).toEqual([]);
  });
});
