// Built into ../static, which the Python package ships and the server serves
// at /_dashboard/ (tests/server/dashboard checks that the build is current).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  // Relative asset URLs: the page lives under /_dashboard/.
  base: "./",
  build: { outDir: "../static", emptyOutDir: true },
});
