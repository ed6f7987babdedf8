// Signs in with the admin key (asked for, or put in the page by `livesync
// dev` for a visitor on its machine), then shows the dashboard through one
// admin connection of the official React client.
import { ConvexProvider, ConvexReactClient } from "convex/react";
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { type AdminAuth, checkKey, deploymentUrl, injectedKey, saveKey, savedKey } from "./admin";
import { Dashboard } from "./App";
import { SignIn } from "./SignIn";
import "./style.css";

type Session = { key: string; client: ConvexReactClient };

function connect(key: string): Session {
  const client = new ConvexReactClient(deploymentUrl, { unsavedChangesWarning: false });
  (client as unknown as AdminAuth).setAdminAuth(key);
  return { key, client };
}

function Root() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);

  const signIn = async (key: string) => {
    setChecking(true);
    const refused = await checkKey(key);
    setChecking(false);
    if (refused !== null) {
      saveKey(null);
      setProblem(refused);
      return;
    }
    saveKey(key);
    setProblem(null);
    setSession(connect(key));
  };

  useEffect(() => {
    const key = savedKey() ?? injectedKey();
    if (key) void signIn(key);
    else setChecking(false);
  }, []);

  const signOut = () => {
    saveKey(null);
    void session?.client.close();
    setSession(null);
  };

  if (session === null) {
    return <SignIn checking={checking} problem={problem} onKey={signIn} />;
  }
  return (
    <ConvexProvider client={session.client}>
      <Dashboard adminKey={session.key} onSignOut={signOut} />
    </ConvexProvider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
