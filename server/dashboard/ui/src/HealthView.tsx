import { useQuery } from "convex/react";
import { useEffect, useState } from "react";
import { dashboard } from "./admin";

function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const parts = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "m"],
    [s % 60, "s"],
  ] as const;
  const from = parts.findIndex(([n]) => n > 0);
  return parts
    .slice(from === -1 ? 3 : from)
    .map(([n, unit]) => `${n}${unit}`)
    .join(" ");
}

export function HealthView() {
  const health = useQuery(dashboard.health);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  if (health === undefined) return <p>Loading…</p>;
  const rows: [string, string, string][] = [
    ["version", "Version", health.version],
    ["store", "Store", health.storeBackend],
    ["node", "Node", health.nodeId],
    ["uptime", "Up for", duration(now - health.startedAt)],
    ["started", "Started", new Date(health.startedAt).toLocaleString()],
    ["functions", "Functions", `${health.functionCount} in ${health.functionsDir}`],
  ];
  return (
    <section className="health" data-testid="health">
      <h2>Health</h2>
      <dl>
        {rows.map(([id, label, value]) => (
          <div key={id} data-field={id}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <h3>Nodes</h3>
      <table className="nodes" data-testid="nodes">
        <thead>
          <tr>
            <th>Node</th>
            <th>URL</th>
            <th>Host (pid)</th>
            <th>Up for</th>
            <th>Connections (authenticated / unauthenticated / loading)</th>
          </tr>
        </thead>
        <tbody>
          {health.nodes.map((node) => (
            <tr key={node._id} data-node={node.nodeId}>
              <td>
                {node.nodeId}
                {node.nodeId === health.nodeId ? " (this page's)" : ""}
              </td>
              <td>{node.url}</td>
              <td>
                {node.host} ({node.pid})
              </td>
              <td>{duration(now - node.startedAt)}</td>
              <td>
                {node.connections.authenticated} / {node.connections.unauthenticated} /{" "}
                {node.connections.loading}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">
        Every node serving this deployment, live: each refreshes its entry while it runs
        (<code>[server] node_refresh</code>), and a node silent for three refreshes is dropped.
      </p>
    </section>
  );
}
