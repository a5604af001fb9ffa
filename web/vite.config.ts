// The portal's build: `npm run build:portal` writes web/dist, which `episante up`'s gateway serves
// at its root (same origin as /api/v1). `npm run dev` proxies /api to a running `episante up`.
import tailwindcss from '@tailwindcss/vite';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: 'app',
  plugins: [react(), tailwindcss()],
  build: { outDir: '../dist', emptyOutDir: true, sourcemap: false },
  server: {
    port: 3000,
    proxy: { '/api': process.env.EPISANTE_GATEWAY ?? 'http://127.0.0.1:80' },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.tsx', 'src/**/*.test.ts'],
    benchmark: { include: ['src/**/*.bench.tsx'] },
  },
});
