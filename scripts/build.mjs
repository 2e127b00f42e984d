// Bundles the CLI into dist/ with esbuild. Entry points stay tiny; heavy modules
// (prompts, settings, clipboard) are split into chunks loaded only by the commands that need them.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { kpm: 'src/cli/main.ts' },
  outdir: 'dist',
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
