import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * Hosts the Hugging Face Hub serves files from: the Hub itself, and the CDN and storage
 * hosts its `resolve` URLs redirect to (cdn-lfs*.hf.co, cas-bridge.xethub.hf.co,
 * *.cdn.hf.co: the lfsDomains and cdnDomains of https://huggingface.co/.well-known/meta.json).
 */
const HF_HOSTS = ['https://huggingface.co', 'https://*.huggingface.co', 'https://hf.co', 'https://*.hf.co'];

/**
 * The built site's Content-Security-Policy. Scripts, workers, styles, fonts and images come
 * from the site itself; WebAssembly may be compiled (onnxruntime-web, tokenizers, the wasm
 * backend's SIMD kernels: 'wasm-unsafe-eval') but no
 * string is ever evaluated as code; the page and its worker may fetch only from the site
 * and the Hub (`hubUrl`, plus Hugging Face's download hosts when it is the public Hub);
 * no plugins, no frames, no form posts, no <base> rewriting.
 */
export function contentSecurityPolicy(hubUrl = 'https://huggingface.co'): string {
  const hub = new URL(hubUrl).origin;
  const connect = ["'self'", ...(hub === 'https://huggingface.co' ? HF_HOSTS : [hub])];
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
 * Puts the policy into the built index.html as a <meta> (any static host enforces it). Only
 * for builds: the dev server injects inline scripts for hot reloading.
 */
function cspMeta(): Plugin {
  return {
    name: 'studio-csp',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: policy }, injectTo: 'head-prepend' }],
    },
  };
}

// Relative base so the built studio works from any path (a sub-folder, a static host).
export default defineConfig({
  base: './',
  // One page, no client-side routes: a missing file is a 404 (as on a static host), not index.html.
  appType: 'mpa',
  plugins: [react(), cspMeta()],
  worker: { format: 'es' },
  // The Hub URL setting starts at the host this build's policy lets the page fetch from.
  define: { __STUDIO_HUB_URL__: JSON.stringify(process.env.STUDIO_HUB_URL ?? 'https://huggingface.co') },
  build: { outDir: process.env.STUDIO_OUT_DIR ?? 'dist', target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
  // The preview server also sends the policy as a header: a <meta> policy does not reach the
  // engine worker, whose own script response sets the policy its fetches run under.
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: { 'Content-Security-Policy': policy } },
  server: { host: '127.0.0.1' },
});
