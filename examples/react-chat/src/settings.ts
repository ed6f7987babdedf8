// Where the app finds livesync and, in dev-auth mode, the dev issuer.
//
// Only a dev-auth build reads overrides from the page's query string (the
// browser tests point one build at servers on random ports). A Clerk build
// never does: a crafted link could otherwise send users' tokens to any server.

const clerkKey: string | undefined = import.meta.env.VITE_CLERK_PUBLISHABLE_KEY || undefined;
const params = clerkKey ? new URLSearchParams() : new URLSearchParams(window.location.search);

function numberParam(name: string, fallback: number): number {
  const value = Number(params.get(name));
  return params.has(name) && Number.isFinite(value) && value > 0 ? value : fallback;
}

const convexUrl =
  params.get("backend") ?? import.meta.env.VITE_CONVEX_URL ?? "http://127.0.0.1:3210";

export const settings = {
  clerkPublishableKey: clerkKey,
  convexUrl,
  // `livesync dev` mounts its issuer here.
  devIssuerUrl: params.get("issuer") ?? import.meta.env.VITE_DEV_ISSUER_URL ?? `${convexUrl}/dev-issuer`,
  // Clerk's session tokens live 60 s; the dev issuer's do too unless told otherwise.
  devTokenTtlSeconds: numberParam("tokenTtl", 60),
  // How long before expiry the Convex client fetches a fresh token (its default is 10 s).
  refreshLeewaySeconds: numberParam("leeway", 10),
  // How long a message sent with "Vanish" stays before the server's scheduler deletes it.
  vanishSeconds: numberParam("vanish", 10),
};
