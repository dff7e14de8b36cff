// Bundles the Node entry points of the built package (dist/index.node.js, dist/integrations/index.js)
// into dist/node/: one module graph of a few files instead of ~170, comments left out, names kept
// (no mangling or compression; the bundler still writes `class A` as `var A = class`), one
// statement a line. With the whitespace gone too the bundle was one 320 KB line, and Node prints
// the source line an uncaught error was thrown from: a crash the error tracker held and threw
// again, or an option error the app did not catch, put all of it on stderr (585 KB with the
// line breaks against 368 KB without). Why: what an app pays for merely loading the client
// is heap, and a small app's collector works over all of it. Loaded into an Express app, the
// unbundled dist added 3.1 MB to the heap and the app served 0.951 of its requests per second
// without it (nothing created, 12 pairs); bundled this way, 2.1 MB, and the instrumented app
// served 0.983 (12 pairs) where the unbundled one served 0.953 (20 pairs). The dependencies and
// Node's modules stay imports. Run after `tsc -b` (the root `build` script does).
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const out = path.join(dist, 'node');
// The package's dependencies stay imports, read from package.json so a new one is never bundled in.
const { dependencies = {} } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
const dependencyNames = Object.keys(dependencies);

await rm(out, { recursive: true, force: true });
await build({
  input: {
    index: path.join(dist, 'index.node.js'),
    integrations: path.join(dist, 'integrations/index.js'),
  },
  platform: 'node',
  external: (id) =>
    id.startsWith('node:') || dependencyNames.some((name) => id === name || id.startsWith(`${name}/`)),
  // The lazy imports inside the graph (Node platform, runtime metrics) are also static imports of
  // the entry, so bundling them in is what already happened at load; not worth a warning each.
  onLog(level, log, handler) {
    if (log.code !== 'INEFFECTIVE_DYNAMIC_IMPORT') handler(level, log);
  },
  output: {
    dir: out,
    format: 'esm',
    // Comments only: names stay as written (error names, stack frames), lines stay short.
    minify: { mangle: false, compress: false, codegen: { removeWhitespace: false } },
    // The minifier alone kept every JSDoc block (rolldown keeps them by default): ~28 % of the
    // bundle, ~0.25 MB of heap at load.
    comments: { legal: true, annotation: false, jsdoc: false },
    sourcemap: true,
    chunkFileNames: '[name].js',
  },
});
