#!/usr/bin/env node
// Builds the web dashboard (dashboard/src, Preact) with esbuild into dashboard/dist (or --out DIR):
//   index.html           (no inline script or style: the Content-Security-Policy forbids them)
//   assets/main-HASH.js  assets/main-HASH.css   (content-hashed names, cached as immutable)
// The api function serves that directory (functions/api/dashboard.ts). `npm start`, `npm test` and
// the api function's Lambda bundling (infra/defaults.ts) run this. Prints the bundle sizes.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: node scripts/build-dashboard.mjs [--out DIR] [--quiet]

Bundles dashboard/src/main.tsx (and its CSS) with esbuild, minified, into DIR (default
dashboard/dist): index.html and assets/ with content-hashed names. Prints each file's size.`);
  process.exit(0);
}
const outIndex = args.indexOf('--out');
const out = resolve(outIndex >= 0 ? args[outIndex + 1] : join(root, 'dashboard', 'dist'));
const quiet = args.includes('--quiet');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: [join(root, 'dashboard', 'src', 'main.tsx')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  outdir: join(out, 'assets'),
  write: true,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => f.endsWith('.js'));
const css = files.find((f) => f.endsWith('.css'));
if (!js) throw new Error('esbuild produced no JavaScript');
writeFileSync(
  join(out, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stratus dashboard</title>
${css ? `<link rel="stylesheet" href="./assets/${css}">\n` : ''}<script type="module" src="./assets/${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Stratus dashboard needs JavaScript.</noscript>
</body>
</html>
`,
);
if (!quiet) {
  for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    const gz = gzipSync(readFileSync(resolve(root, file))).length;
    console.log(`[dashboard] ${basename(file)}: ${(meta.bytes / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped)`);
  }
  console.log(`[dashboard] built into ${out}`);
}
