// With VITE_CLERK_PUBLISHABLE_KEY set, "@app/auth" is the real @clerk/clerk-react;
// without it, the dev auth module that signs in against livesync's dev issuer.
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, loadEnv } from "vite";

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd(), "VITE_");
  const auth = env.VITE_CLERK_PUBLISHABLE_KEY
    ? "@clerk/clerk-react"
    : fileURLToPath(new URL("./src/devAuth.tsx", import.meta.url));
  return {
    plugins: [react()],
    resolve: { alias: { "@app/auth": auth } },
    // Relative asset URLs, so the build can be served from any folder.
    base: "./",
  };
});
