// Builds the web UI (ui/) into dist/ui/, which `p2pfx ui` serves from 127.0.0.1. Everything is
// bundled: the page loads nothing from another origin. Run by `npm run build`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative URLs (./assets/…): the node serves the folder as it is, under any path.
  base: './',
  plugins: [preact({ prerender: { enabled: false } })],
  publicDir: false,
  build: {
    outDir: here('../dist/ui'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One small script and one stylesheet; nothing inlined as data: URLs (a strict CSP stays possible).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    host: '127.0.0.1',
    // `npx vite --config ui/vite.config.ts` against a running `p2pfx ui` (token from ?token=):
    // P2PFX_UI=http://127.0.0.1:PORT.
    proxy: process.env.P2PFX_UI ? { '/api': { target: process.env.P2PFX_UI, changeOrigin: true } } : undefined,
  },
});
