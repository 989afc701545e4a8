// Bundles src/dashboard.js (with the parts of Chart.js it uses) and src/dashboard.css
// into ../callpool/reports/dashboard/static/ (inside the Python package, committed).
//   node build.mjs            build, print sizes, fail if the gzipped total > LIMIT
//   node build.mjs --check    build in memory and fail if it differs from the committed files
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

// The first page load's budget is 300 KB gzipped with the HTML; the assets take at most this.
const LIMIT = 120 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'callpool', 'reports', 'dashboard', 'static');
const check = process.argv.includes('--check');

async function bundle(entry) {
  const r = await build({
    entryPoints: [join(here, 'src', entry)],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    legalComments: 'eof',
    charset: 'utf8',
    write: false,
    logLevel: 'warning',
  });
  return r.outputFiles[0].text;
}

const outputs = {
  'dashboard.js': await bundle('dashboard.js'),
  'dashboard.css': await bundle('dashboard.css'),
};
let total = 0;
let stale = [];
for (const [name, text] of Object.entries(outputs)) {
  const gz = gzipSync(Buffer.from(text), { level: 9 }).length;
  total += gz;
  console.log(`${name}: minified ${text.length} B | gzip ${gz} B`);
  const path = join(dist, name);
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(path, 'utf8');
    } catch { /* missing */ }
    if (committed !== text) stale.push(name);
  } else {
    mkdirSync(dist, { recursive: true });
    writeFileSync(path, text);
  }
}
console.log(`total gzip ${total} B (limit ${LIMIT})`);
if (stale.length) {
  console.error(`out of date: ${stale.join(', ')}: run \`npm run build\` in dashboard_assets and commit`);
  process.exit(1);
}
if (check) console.log('callpool/reports/dashboard/static matches the source');
if (total > LIMIT) {
  console.error(`gzipped assets ${total} B exceed ${LIMIT} B`);
  process.exit(1);
}
