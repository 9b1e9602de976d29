import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
// With extensions: Vite's config loader resolves these files as they are.
import { hostingHeaderFiles } from './scripts/hosting-headers.ts';
import { hubConnectSources } from './src/engine/hub/connect-sources.ts';

/**
 * The built site's Content-Security-Policy. Scripts, workers, styles, fonts and images come
 * from the site itself; WebAssembly may be compiled (onnxruntime-web, tokenizers, the wasm
 * backend's SIMD kernels: 'wasm-unsafe-eval') but no
 * string is ever evaluated as code; the page and its worker may fetch only from the site
 * and the Hub (`hubUrl`, plus Hugging Face's download hosts when it is the public Hub:
 * hubConnectSources, the same list the engine worker checks Hub URLs against);
 * no plugins, no frames, no form posts, no <base> rewriting.
 */
export function contentSecurityPolicy(hubUrl = 'https://huggingface.co'): string {
  const connect = hubConnectSources(hubUrl);
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src ${connect.join(' ')}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
  ].join('; ');
}

/** STUDIO_HUB_URL: the Hub host the built site may fetch from (default the public Hub). */
const hubUrl = process.env.STUDIO_HUB_URL || 'https://huggingface.co';
const policy = contentSecurityPolicy(hubUrl);

/**
 * Puts the policy into the built index.html as a <meta>, which every host delivers but
 * which applies to the page only: the engine worker (every fetch, every WebAssembly
 * compile) runs under the policy of its own script's response headers. Hence also header
 * files for common static hosts in the build (scripts/hosting-headers.ts, docs/hosting.md),
 * and the worker's own check of Hub URLs (src/engine/hub/origins.ts). Only for builds: the
 * dev server injects inline scripts for hot reloading.
 */
export function cspFiles(p: string = policy): Plugin {
  return {
    name: 'studio-csp',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: p }, injectTo: 'head-prepend' }],
    },
    generateBundle() {
      for (const [fileName, source] of Object.entries(hostingHeaderFiles(p))) this.emitFile({ type: 'asset', fileName, source });
    },
  };
}

// Relative base so the built studio works from any path (a sub-folder, a static host).
export default defineConfig({
  base: './',
  // One page, no client-side routes: a missing file is a 404 (as on a static host), not index.html.
  appType: 'mpa',
  plugins: [react(), cspFiles()],
  worker: { format: 'es' },
  // The Hub URL setting starts at the host this build's policy lets the page fetch from.
  // The worker builds its Hub URL check from it too (hubConnectSources, as the policy is).
  define: { __STUDIO_HUB_URL__: JSON.stringify(hubUrl) },
  build: { outDir: process.env.STUDIO_OUT_DIR ?? 'dist', target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
  // The preview server sends the policy as a header, as the header files in the build make
  // static hosts do: a <meta> policy does not reach the engine worker, whose own script
  // response sets the policy its fetches run under.
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: { 'Content-Security-Policy': policy } },
  server: { host: '127.0.0.1' },
});
