import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// The console is a static single-page app, served by both hosts under /console/.
export default defineConfig({
  root: import.meta.dirname,
  base: "/console/",
  plugins: [preact()],
  build: { outDir: "../dist/console", emptyOutDir: true, sourcemap: true },
});
