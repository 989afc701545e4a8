// Bundles src/snippet.js (+ src/phone.js) into ../callpool/tracking/static/callpool.min.js
// (inside the Python package, so that the wheel ships it; committed).
//   node build.mjs            build, print sizes, fail if gzip > 4096 bytes
//   node build.mjs --check    build into a temp file and fail if it differs
//                             from the committed built file
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const PLACEHOLDER = '/*__CALLPOOL_CONFIG__*/null';
const LIMIT = 4096;
const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'callpool', 'tracking', 'static', 'callpool.min.js');
const check = process.argv.includes('--check');

async function bundle(minify) {
  const r = await build({
    entryPoints: [join(here, 'src', 'snippet.js')],
    bundle: true,
    format: 'iife',
    target: 'es2017',
    minify,
    legalComments: 'none',
    charset: 'ascii',
    write: false,
    logLevel: 'warning',
  });
  let code = r.outputFiles[0].text;
  // The source reads the free identifier __CALLPOOL_CONFIG__ (never renamed by
  // the minifier); turn it into the placeholder the server substitutes.
  const hits = code.split('__CALLPOOL_CONFIG__').length - 1;
  if (hits !== 1) throw new Error(`expected exactly one __CALLPOOL_CONFIG__ in output, found ${hits}`);
  code = code.replace('__CALLPOOL_CONFIG__', PLACEHOLDER);
  return code;
}

const raw = readFileSync(join(here, 'src', 'phone.js'), 'utf8').length +
  readFileSync(join(here, 'src', 'snippet.js'), 'utf8').length;
const unmin = await bundle(false);
const min = await bundle(true);
// Served and possibly inlined into pages of any encoding: escape non-ASCII in the source.
const nonAscii = min.match(/[^\x00-\x7f]/);
if (nonAscii) throw new Error(`non-ASCII character U+${nonAscii[0].codePointAt(0).toString(16)} in the bundle`);
const gz = gzipSync(Buffer.from(min), { level: 9 }).length;
console.log(`source ${raw} B | bundled (unminified) ${unmin.length} B | minified ${min.length} B | minified+gzip ${gz} B (limit ${LIMIT})`);

if (check) {
  const tmp = mkdtempSync(join(tmpdir(), 'callpool-'));
  const out = join(tmp, 'callpool.min.js');
  writeFileSync(out, min);
  let committed = '';
  try {
    committed = readFileSync(dist, 'utf8');
  } catch { /* missing */ }
  const same = committed === readFileSync(out, 'utf8');
  rmSync(tmp, { recursive: true, force: true });
  if (!same) {
    console.error(`${dist} is out of date: run \`npm run build\` and commit it`);
    process.exit(1);
  }
  console.log('callpool/tracking/static/callpool.min.js matches the source');
} else {
  mkdirSync(dirname(dist), { recursive: true });
  writeFileSync(dist, min);
  console.log(`wrote ${dist}`);
}
if (gz > LIMIT) {
  console.error(`gzipped size ${gz} B exceeds ${LIMIT} B`);
  process.exit(1);
}
