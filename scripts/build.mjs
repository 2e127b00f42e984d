// Bundles the CLI into dist/ with esbuild. Entry points stay tiny; heavy modules
// (prompts, settings, clipboard) are split into chunks loaded only by the commands that need them.
// The account server is a second, separate bundle (dist/kpm-server.mjs): its dependencies (fastify,
// kysely, better-sqlite3, pg, nodemailer) stay in node_modules and are never loaded by `kpm`.
import { build } from 'esbuild';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, relative, resolve } from 'node:path';

// Build into a private folder and swap it in, so a kpm running meanwhile never sees a half-built dist/.
const dist = fileURLToPath(new URL('../dist', import.meta.url));
const tmp = `${dist}.${process.pid}.tmp`;
rmSync(tmp, { recursive: true, force: true });
await build({
  entryPoints: { kpm: 'src/cli/main.ts' },
  outdir: tmp,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  external: ['argon2'],
  banner: { js: "import { createRequire as __kpmCreateRequire } from 'node:module'; const require = __kpmCreateRequire(import.meta.url);" },
  sourcemap: false,
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});
await build({
  entryPoints: { 'kpm-server': 'src/server/main.ts' },
  outdir: tmp,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  packages: 'external',
  sourcemap: false,
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});
// The hot paths as one small CommonJS file (bin/kpm loads it before anything else).
/** A small CommonJS bundle of its own for a hot path (no ESM loader, nothing else loaded). */
const cjsBundle = (entryPoints, extra = {}) =>
  build({ entryPoints, outdir: tmp, bundle: true, format: 'cjs', platform: 'node', target: 'node20', outExtension: { '.js': '.cjs' }, sourcemap: false, minify: false, legalComments: 'none', logLevel: 'warning', ...extra });
await cjsBundle({ fast: 'src/cli/fastpath.ts' });
// `kpm get` with the master password given and no agent (a CI job, a script): its own small CommonJS
// file (the vault code, no command-line framework), so the agent's hot path above stays as small as it is.
// Modules it reaches only on paths a get never takes (the retention settings: conf and ajv, for a
// write's compaction; a TOTP code: otpauth) are CommonJS files of their own next to it, required
// when reached, so that Node does not compile them on every call.
const metaUrl = {
  define: { 'import.meta.url': '__kpmImportMetaUrl' },
  banner: { js: "const __kpmImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};
const lazy = { 'src/settings/retention.ts': 'fastget-retention', 'src/vault/totp.ts': 'fastget-totp' };
await cjsBundle(Object.fromEntries(Object.entries(lazy).map(([src, out]) => [out, src])), { external: ['argon2'], ...metaUrl });
await cjsBundle(
  { fastget: 'src/cli/fastget.ts' },
  {
    external: ['argon2'],
    ...metaUrl,
    plugins: [
      {
        name: 'kpm-lazy-files',
        setup(b) {
          b.onResolve({ filter: /\/(retention|totp)\.js$/ }, (a) => {
            if (a.kind !== 'dynamic-import') return undefined;
            const src = relative(process.cwd(), resolve(dirname(a.importer), a.path.replace(/\.js$/, '.ts')));
            return lazy[src] ? { path: `./${lazy[src]}.cjs`, external: true } : undefined;
          });
        },
      },
    ],
  },
);
// A CI job's token reads (`kpm read` / `kpm get` with KPM_TOKEN): their own small CommonJS file, so the
// agent's hot path above stays as small as it is.
await cjsBundle(
  { tokenfast: 'src/cli/tokenfast.ts' },
  {
    // modules it shares with the full program may use import.meta.url (never on this path): give them this file's
    define: { 'import.meta.url': '__kpmImportMetaUrl' },
    banner: { js: "const __kpmImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  },
);
// The audit's data (src/audit/prefilter-build.ts): the dictionaries' word table and the estimator's
// word index, made once here from the zxcvbn-ts set-up bundled above instead of on every audit.
{
  const gen = `${tmp}/prefilter-build.tmp.mjs`;
  await build({ entryPoints: ['src/audit/prefilter-build.ts'], outfile: gen, bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' });
  const files = await (await import(pathToFileURL(gen).href)).auditDataFiles(fileURLToPath(new URL('..', import.meta.url)));
  rmSync(gen);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(`${tmp}/${name}`, bytes);
  if (!Object.keys(files).length) console.warn('build: zxcvbn-ts is not laid out as src/audit/prefilter-data.ts expects: no audit prefilter');
}
rmSync(dist, { recursive: true, force: true });
renameSync(tmp, dist);
