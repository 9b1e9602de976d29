import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Relative base so the built studio works from any path (a sub-folder, a static host).
export default defineConfig({
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  build: { outDir: process.env.STUDIO_OUT_DIR ?? 'dist', target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  server: { host: '127.0.0.1' },
});
