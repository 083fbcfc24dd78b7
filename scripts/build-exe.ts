// `npm run build:exe`: one self-contained executable for this platform, dist/exe/p2pfx, made
// with Node's single executable applications (SEA): the CLI and every dependency bundled into one
// CommonJS script (esbuild), the crypto worker and the web UI's built files as SEA assets, all
// injected into a copy of the node binary that runs this script (postject). It runs where no
// Node.js is installed. Needs `npm run build` first (the UI's files come from dist/ui).
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'dist/exe');
const EXE = join(OUT, process.platform === 'win32' ? 'p2pfx.exe' : 'p2pfx');
/** The fuse postject flips so that node runs the injected blob (Node's documented value). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** Worker modules of src/transfer/ (own-files.ts workerScript names them). */
const WORKERS = ['crypto-worker'];

async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    // import.meta.url is only read outside the executable (own-files.ts checks isSea() first).
    logOverride: { 'empty-import-meta': 'silent' },
    legalComments: 'none',
    logLevel: 'warning',
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  const files: string[] = [];
  for (const name of names) if ((await stat(join(dir, name))).isFile()) files.push(name.split('\\').join('/'));
  return files.sort();
}

async function main(): Promise<void> {
  const uiDir = join(ROOT, 'dist/ui');
  const uiFiles = await filesUnder(uiDir).catch((): string[] => []);
  if (!uiFiles.includes('index.html')) throw new Error('dist/ui/index.html is missing: run `npm run build` first');
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });

  const main = join(OUT, 'p2pfx.cjs');
  await bundle(join(ROOT, 'dist/src/cli/main.js'), main);
  const assets: Record<string, string> = { 'package.json': join(ROOT, 'package.json') };
  for (const w of WORKERS) {
    const out = join(OUT, 'workers', `${w}.cjs`);
    await bundle(join(ROOT, `dist/src/transfer/${w}.js`), out);
    assets[`workers/${w}.cjs`] = out;
  }
  for (const f of uiFiles) assets[`ui/${f}`] = join(uiDir, f);

  const blob = join(OUT, 'sea-prep.blob');
  const config = join(OUT, 'sea-config.json');
  await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }, null, 2));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });

  await copyFile(process.execPath, EXE);
  await chmod(EXE, 0o755);
  // postject is CommonJS; its inject() rewrites the copy in place.
  const { inject } = createRequire(import.meta.url)('postject') as { inject: (file: string, name: string, data: Buffer, opts: { sentinelFuse: string }) => Promise<void> };
  const { readFile } = await import('node:fs/promises');
  await inject(EXE, 'NODE_SEA_BLOB', await readFile(blob), { sentinelFuse: SEA_FUSE });
  for (const temp of [blob, config]) await rm(temp);

  const size = (await stat(EXE)).size;
  console.log(`${relative(process.cwd(), EXE)}: ${(size / 2 ** 20).toFixed(1)} MiB (Node ${process.version}, ${process.platform}-${process.arch}; ${Object.keys(assets).length} assets)`);
}

main().catch((err: unknown) => {
  console.error(`build:exe failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
