// Fails when the committed openapi.json or src/client/ differ from what the API's code
// generates now: regenerate both into a temporary folder and compare them file by file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('..', import.meta.url));
const root = join(here, '..');
const tmp = mkdtempSync(join(tmpdir(), 'fuze-client-'));

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else out.push(path);
  }
  return out.sort();
}

let stale = [];
try {
  const spec = join(tmp, 'openapi.json');
  const python = join(root, '.venv', 'bin', 'python');
  execFileSync(python, [join(root, 'scripts', 'openapi.py'), spec], { cwd: root, stdio: 'inherit' });
  execFileSync(join(here, 'node_modules', '.bin', 'openapi-ts'), ['--silent'], {
    cwd: here,
    env: { ...process.env, FUZE_OPENAPI_INPUT: spec, FUZE_OPENAPI_OUTPUT: join(tmp, 'client') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const same = (a, b) => {
    try {
      return readFileSync(a, 'utf8') === readFileSync(b, 'utf8');
    } catch {
      return false;
    }
  };
  if (!same(spec, join(here, 'openapi.json'))) stale.push('openapi.json');
  const fresh = files(join(tmp, 'client')).map((f) => relative(join(tmp, 'client'), f));
  const committed = files(join(here, 'src', 'client')).map((f) => relative(join(here, 'src', 'client'), f));
  for (const f of new Set([...fresh, ...committed])) {
    if (!same(join(tmp, 'client', f), join(here, 'src', 'client', f))) stale.push(`src/client/${f}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

if (stale.length) {
  console.error(`The generated API client is stale (${stale.join(', ')}).\nRun \`npm run gen\` in frontend/ and commit the result.`);
  process.exit(1);
}
console.log('The generated API client matches the API.');
