// The dashboard's frame: one view at a time, named in the URL's hash.
import { useConvexConnectionState } from "convex/react";
import { useEffect, useState } from "react";
import { ConnectionsView } from "./ConnectionsView";
import { DataView } from "./DataView";
import { FunctionsView } from "./FunctionsView";
import { HealthView } from "./HealthView";
import { LogsView } from "./LogsView";
import { useNodeHistory } from "./history";

const VIEWS = ["data", "functions", "logs", "connections", "health"] as const;
type View = (typeof VIEWS)[number];
const TITLES: Record<View, string> = {
  data: "Data",
  functions: "Functions",
  logs: "Logs",
  connections: "Connections",
  health: "Health",
};

function currentView(): View {
  const name = window.location.hash.replace(/^#\/?/, "").split("/")[0];
  return (VIEWS as readonly string[]).includes(name) ? (name as View) : "data";
}

type Props = { adminKey: string; onSignOut: () => void };

export function Dashboard({ adminKey, onSignOut }: Props) {
  const [view, setView] = useState<View>(currentView);
  useEffect(() => {
    const follow = () => setView(currentView());
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  const connected = useConvexConnectionState().isWebSocketConnected;
  // Kept whichever view is open, so the Connections view's charts have a past.
  const { health, history } = useNodeHistory();
  return (
    <div className="frame" data-state="signed-in">
      <header>
        <strong>livesync</strong>
        <nav>
          {VIEWS.map((name) => (
            <a key={name} href={`#/${name}`} aria-current={name === view ? "page" : undefined}>
              {TITLES[name]}
            </a>
          ))}
        </nav>
        <span className={connected ? "online" : "offline"} data-testid="connection">
          {connected ? "connected" : "reconnecting…"}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main data-view={view}>
        {view === "data" && <DataView />}
        {view === "functions" && <FunctionsView adminKey={adminKey} />}
        {view === "health" && <HealthView />}
        {view === "connections" &&
          (health === undefined ? (
            <p>Loading…</p>
          ) : (
            <ConnectionsView history={history} thisNode={health.nodeId} />
          ))}
        {view === "logs" && <LogsView />}
      </main>
    </div>
  );
}
