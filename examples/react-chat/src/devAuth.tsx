// A stand-in for @clerk/clerk-react, for offline development and tests.
//
// It exports the parts of Clerk's API this app uses, with the same shapes:
// `ClerkProvider`, `useAuth` (`isLoaded`, `isSignedIn`, `getToken({ template,
// skipCache })`, `orgId`, `orgRole`, `sessionId`, `sessionClaims`), `useUser`, `SignInButton`
// and `SignOutButton`. Tokens come from livesync's dev issuer, which signs
// them like a Clerk "convex" JWT template, so the server checks them exactly
// as it would Clerk's. Anyone can sign in as anyone: development only.
import {
  createContext,
  type FormEvent,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import { settings } from "./settings";

type DevUser = { id: string; fullName: string; primaryEmailAddress: { emailAddress: string } };
type DevSession = { id: string; user: DevUser };
type CachedToken = { token: string; expiresAt: number };

type DevAuthState = {
  isLoaded: boolean;
  session: DevSession | null;
  signIn: (username: string) => void;
  signOut: () => void;
  getToken: (options?: { template?: string; skipCache?: boolean }) => Promise<string | null>;
};

const STORAGE_KEY = "livesync-dev-session";
// A cached token is reused only while it has this long left, as Clerk's cache does.
const REUSE_MARGIN_MS = 2000;

const DevAuthContext = createContext<DevAuthState | null>(null);

function storedSession(): DevSession | null {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as DevSession) : null;
  } catch {
    return null;
  }
}

function newSession(username: string): DevSession {
  const id = username.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, "-") || "user";
  return {
    id: `sess_${crypto.randomUUID()}`,
    user: { id, fullName: username.trim() || id, primaryEmailAddress: { emailAddress: `${id}@example.com` } },
  };
}

async function mintToken(user: DevUser): Promise<CachedToken> {
  const response = await fetch(`${settings.devIssuerUrl}/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      sub: user.id,
      email: user.primaryEmailAddress.emailAddress,
      name: user.fullName,
      ttl: settings.devTokenTtlSeconds,
    }),
  });
  if (!response.ok) {
    throw new Error(`dev issuer refused a token: HTTP ${response.status}`);
  }
  const { token } = (await response.json()) as { token: string };
  return { token, expiresAt: Date.now() + settings.devTokenTtlSeconds * 1000 };
}

export function ClerkProvider({
  children,
}: {
  children: ReactNode;
  publishableKey?: string;
  afterSignOutUrl?: string;
}) {
  const [isLoaded, setLoaded] = useState(false);
  const [session, setSession] = useState<DevSession | null>(null);
  const cache = useRef<CachedToken | null>(null);

  // Clerk is "loading" until clerk-js has talked to its Frontend API; the dev
  // equivalent is reaching the issuer, so a stopped server shows up here.
  useEffect(() => {
    let cancelled = false;
    fetch(`${settings.devIssuerUrl}/.well-known/openid-configuration`)
      .then((response) => {
        if (!response.ok) throw new Error(`dev issuer answered HTTP ${response.status}`);
        if (!cancelled) {
          setSession(storedSession());
          setLoaded(true);
        }
      })
      .catch((error: unknown) => console.error("dev auth: cannot reach the dev issuer", error));
    return () => {
      cancelled = true;
    };
  }, []);

  const signIn = useCallback((username: string) => {
    const next = newSession(username);
    cache.current = null;
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    setSession(next);
  }, []);

  const signOut = useCallback(() => {
    cache.current = null;
    window.localStorage.removeItem(STORAGE_KEY);
    setSession(null);
  }, []);

  const getToken = useCallback(
    async ({ skipCache = false }: { template?: string; skipCache?: boolean } = {}) => {
      // `template` is accepted for Clerk compatibility: the dev issuer mints one shape.
      if (session === null) return null;
      const cached = cache.current;
      if (!skipCache && cached && cached.expiresAt - Date.now() > REUSE_MARGIN_MS) {
        return cached.token;
      }
      const fresh = await mintToken(session.user);
      cache.current = fresh;
      return fresh.token;
    },
    [session],
  );

  const value = useMemo(
    () => ({ isLoaded, session, signIn, signOut, getToken }),
    [isLoaded, session, signIn, signOut, getToken],
  );
  return <DevAuthContext.Provider value={value}>{children}</DevAuthContext.Provider>;
}

function useDevAuth(): DevAuthState {
  const state = useContext(DevAuthContext);
  if (state === null) throw new Error("dev auth hooks must be used inside <ClerkProvider>");
  return state;
}

export function useAuth() {
  const { isLoaded, session, getToken } = useDevAuth();
  return {
    isLoaded,
    isSignedIn: isLoaded ? session !== null : undefined,
    userId: session?.user.id ?? null,
    sessionId: session?.id ?? null,
    orgId: null,
    orgRole: null,
    // Clerk's own claims of the session token; the dev issuer's tokens are only template-shaped.
    sessionClaims: null,
    getToken,
  };
}

export function useUser() {
  const { isLoaded, session } = useDevAuth();
  return { isLoaded, isSignedIn: session !== null, user: session?.user ?? null };
}

export function SignInButton(_props: { mode?: "modal" | "redirect"; children?: ReactNode }) {
  const { signIn } = useDevAuth();
  const [username, setUsername] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (username.trim()) signIn(username);
  };
  return (
    <form className="dev-sign-in" onSubmit={submit}>
      <input
        aria-label="Username"
        placeholder="any name (dev sign-in)"
        value={username}
        onChange={(event) => setUsername(event.target.value)}
      />
      <button type="submit">Sign in</button>
    </form>
  );
}

export function SignOutButton({ children }: { children?: ReactNode }) {
  const { signOut } = useDevAuth();
  return (
    <button type="button" onClick={signOut}>
      {children ?? "Sign out"}
    </button>
  );
}
