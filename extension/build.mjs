// Builds the unpacked extension: `node build.mjs` -> dist/ (Chrome, Chromium, Edge),
// `--firefox` -> dist-firefox/, `--e2e` -> dist-e2e/ (the end-to-end tests' build, see
// docs/extension.md, "Its tests": it differs only by a host permission for 127.0.0.1).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const target = process.argv.includes('--firefox') ? 'firefox' : process.argv.includes('--e2e') ? 'e2e' : 'chrome';
const out = join(here, { chrome: 'dist', firefox: 'dist-firefox', e2e: 'dist-e2e' }[target]);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'icons'), { recursive: true });

await build({
  entryPoints: ['background', 'popup', 'options'].map((name) => join(here, 'src', `${name}.ts`)),
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['chrome120', 'firefox128'],
  // The generated API client lives in ../frontend/src/client (tsconfig paths: @fuze/client).
  tsconfig: join(here, 'tsconfig.json'),
  sourcemap: 'linked',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});

for (const file of ['popup.html', 'options.html', 'ui.css']) {
  copyFileSync(join(here, 'static', file), join(out, file));
}

const manifest = JSON.parse(readFileSync(join(here, 'manifest.json'), 'utf8'));
manifest.version = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).version;
if (target === 'firefox') {
  // Firefox runs MV3 background scripts as event pages, not service workers.
  manifest.background = { scripts: ['background.js'], type: 'module' };
  manifest.browser_specific_settings = { gecko: { id: 'extension@fuze.local', strict_min_version: '128.0' } };
  delete manifest.minimum_chrome_version;
}
if (target === 'e2e') {
  // A headless browser has no toolbar button to click, so activeTab can never be granted there,
  // and it cannot answer a permission prompt: this stands in for both, for the local servers only.
  manifest.host_permissions = ['http://127.0.0.1/*'];
}
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

for (const size of [16, 32, 48, 128]) writeFileSync(join(out, 'icons', `${size}.png`), icon(size));
console.log(`built ${target} extension in ${out}`);

/** The icon, drawn here so that no binary lives in the repository: a bolt on a rounded square. */
function icon(size) {
  const bolt = [[0.58, 0.1], [0.24, 0.56], [0.47, 0.56], [0.4, 0.9], [0.76, 0.42], [0.53, 0.42], [0.62, 0.1]];
  const inside = (x, y) => {
    let hit = false;
    for (let i = 0, j = bolt.length - 1; i < bolt.length; j = i++) {
      const [xi, yi] = bolt[i];
      const [xj, yj] = bolt[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  };
  const radius = 0.22;
  const rows = [];
  for (let py = 0; py < size; py++) {
    const row = [0];
    for (let px = 0; px < size; px++) {
      let cover = 0;
      let boltCover = 0;
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const x = (px + (sx + 0.5) / 4) / size;
          const y = (py + (sy + 0.5) / 4) / size;
          const dx = Math.max(radius - x, x - (1 - radius), 0);
          const dy = Math.max(radius - y, y - (1 - radius), 0);
          if (dx * dx + dy * dy <= radius * radius) cover++;
          if (inside(x, y)) boltCover++;
        }
      }
      const b = boltCover / 16;
      const mix = (bg, fg) => Math.round(bg * (1 - b) + fg * b);
      row.push(mix(0xc2, 0xff), mix(0x41, 0xf7), mix(0x0c, 0xed), Math.round((cover / 16) * 255));
    }
    rows.push(Buffer.from(row));
  }
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(buf) {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
