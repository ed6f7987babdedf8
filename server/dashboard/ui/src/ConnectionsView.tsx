// Connections by auth state, subscriptions, queries and mutations over time,
// per node: each node's `_nodes` document carries its figures, and the page
// keeps every version it saw as a sample (history.ts).
import { AUTH_STATES, type AuthState, type NodeEntry, type NodeStats } from "./admin";
import { Chart } from "./Chart";
import {
  commitLatency,
  type History,
  last,
  meanBetween,
  perMinute,
  type Sample,
  values,
} from "./history";

const mutationCount = (stats: NodeStats) => stats.mutations.ok + stats.mutations.error;
const jobCount = (stats: NodeStats) => stats.scheduledJobs.success + stats.scheduledJobs.failed;
const cronCount = (stats: NodeStats) =>
  (stats.cronRuns?.success ?? 0) + (stats.cronRuns?.failed ?? 0);
const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? "–" : `${value.toFixed(2)} ms`;

const rateChart = (
  id: string,
  label: string,
  series: Sample[],
  count: (stats: NodeStats) => number,
) => <Chart id={id} label={label} unit=" / min" digits={1} points={perMinute(series, count)} />;

type Props = { history: History; thisNode: string };

export function ConnectionsView({ history, thisNode }: Props) {
  const nodes = [...history.entries()];
  return (
    <section className="connections" data-testid="connections">
      <h2>Connections</h2>
      {nodes.length > 1 && <Totals nodes={nodes} />}
      {nodes.map(([id, series]) => (
        <NodeFigures key={id} series={series} here={id === thisNode} />
      ))}
      <p className="hint">
        Each node reports its figures at every refresh (<code>[server] node_refresh</code>); this
        page keeps what it has seen since it opened, so rates start with the second report.
      </p>
    </section>
  );
}

function Totals({ nodes }: { nodes: [string, Sample[]][] }) {
  const rate = (series: Sample[]) => last(perMinute(series, mutationCount))?.[1] ?? 0;
  const rows = nodes.map(([id, series]) => {
    const node = series[series.length - 1].node;
    return { id, node, rate: rate(series) };
  });
  const sum = (figure: (row: (typeof rows)[number]) => number) =>
    rows.reduce((total, row) => total + figure(row), 0);
  return (
    <table className="totals" data-testid="totals">
      <thead>
        <tr>
          <th>Node</th>
          {AUTH_STATES.map((state) => (
            <th key={state}>{state}</th>
          ))}
          <th>Subscriptions</th>
          <th>Mutations / min</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ id, node, rate }) => (
          <tr key={id}>
            <td>{id}</td>
            {AUTH_STATES.map((state) => (
              <td key={state}>{node.connections[state]}</td>
            ))}
            <td>{node.stats?.subscriptions ?? "–"}</td>
            <td>{rate.toFixed(1)}</td>
          </tr>
        ))}
        <tr data-testid="total">
          <th>{rows.length} nodes</th>
          {AUTH_STATES.map((state) => (
            <th key={state}>{sum((row) => row.node.connections[state])}</th>
          ))}
          <th>{sum((row) => row.node.stats?.subscriptions ?? 0)}</th>
          <th>{sum((row) => row.rate).toFixed(1)}</th>
        </tr>
      </tbody>
    </table>
  );
}

const STATE_LABELS: Record<AuthState, string> = {
  authenticated: "Authenticated",
  unauthenticated: "Unauthenticated",
  loading: "Loading auth",
};

function NodeFigures({ series, here }: { series: Sample[]; here: boolean }) {
  const node: NodeEntry = series[series.length - 1].node;
  const stats = node.stats;
  return (
    <article className="node-figures" data-node={node.nodeId} data-samples={series.length}>
      <h3>
        {node.nodeId}
        {here ? " (this page's)" : ""} <span className="hint">{node.url}</span>
      </h3>
      <div className="charts">
        {AUTH_STATES.map((state) => (
          <Chart
            key={state}
            id={state}
            label={STATE_LABELS[state]}
            points={values(series, (n) => n.connections[state])}
          />
        ))}
      </div>
      {stats === undefined ? (
        <p className="hint">This node reports no more figures (a version from before them).</p>
      ) : (
        <WorkFigures series={series} stats={stats} />
      )}
    </article>
  );
}

type QueryFigures = NodeStats["queries"][number];

function WorkFigures({ series, stats }: { series: Sample[]; stats: NodeStats }) {
  const before = series.length > 1 ? series[series.length - 2] : undefined;
  const minutes = before === undefined ? 0 : (last(series)!.at - before.at) / 60_000;
  // A query's runs per minute and their mean time since the report before.
  const recent = ({ path, executions, meanMs }: QueryFigures) => {
    if (before?.node.stats === undefined || minutes <= 0) return { rate: "–", mean: "–" };
    const earlier = before.node.stats.queries.find((q) => q.path === path);
    const runs = Math.max(0, executions - (earlier?.executions ?? 0));
    // Unknown without the earlier figures: the query was not among the
    // listed ones then, or its node did not report means yet.
    const mean =
      meanMs === undefined || earlier?.meanMs === undefined
        ? null
        : meanBetween(earlier.executions, earlier.meanMs, executions, meanMs);
    return { rate: (runs / minutes).toFixed(1), mean: ms(mean) };
  };
  return (
    <>
      <div className="charts">
        <Chart
          id="subscriptions"
          label="Subscriptions"
          points={values(series, (n) => n.stats?.subscriptions ?? 0)}
        />
        {rateChart("mutations", "Mutations", series, mutationCount)}
        <Chart
          id="commit-latency"
          label="Commit latency"
          unit=" ms"
          digits={2}
          points={commitLatency(series)}
        />
        {rateChart("jobs", "Scheduled jobs", series, jobCount)}
        {rateChart("crons", "Cron runs", series, cronCount)}
      </div>
      <dl className="figures">
        <div data-field="mutations">
          <dt>Mutations</dt>
          <dd>
            {stats.mutations.ok} committed, {stats.mutations.error} failed
          </dd>
        </div>
        <div data-field="commits">
          <dt>Commits</dt>
          <dd>
            {stats.commits}, {stats.commitMeanMs.toFixed(2)} ms on average
          </dd>
        </div>
        <Outcomes field="jobs" label="Scheduled jobs" counts={stats.scheduledJobs} />
        {stats.cronRuns !== undefined && (
          <Outcomes field="crons" label="Cron runs" counts={stats.cronRuns} />
        )}
        <div data-field="queries">
          <dt>Query runs</dt>
          <dd>
            {stats.queryExecutions}, {stats.queryMeanMs.toFixed(2)} ms on average
          </dd>
        </div>
      </dl>
      <table className="queries" data-testid="queries">
        <thead>
          <tr>
            <th>Query</th>
            <th>Runs</th>
            <th>Runs / min</th>
            <th>Mean time</th>
            <th>Mean, last interval</th>
          </tr>
        </thead>
        <tbody>
          {stats.queries.map((query) => {
            const { rate, mean } = recent(query);
            return (
              <tr key={query.path} data-path={query.path}>
                <td>{query.path}</td>
                <td data-field="runs">{query.executions}</td>
                <td data-field="rate">{rate}</td>
                <td data-field="mean">{ms(query.meanMs)}</td>
                <td data-field="recent-mean">{mean}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="hint">
        Counts since the node started. A query runs when first subscribed (one run serves every
        subscriber with the same arguments) and again each time a commit changes what it read; the
        node's 20 most run queries are listed, with the mean time of their runs since the start
        and since the report before. Mutations and commits include the server's own writes, such
        as this report at each refresh. Scheduled jobs do not include cron runs, which are counted
        apart.
      </p>
    </>
  );
}

type OutcomesProps = {
  field: string;
  label: string;
  counts: { success: number; failed: number; skipped?: number };
};

function Outcomes({ field, label, counts }: OutcomesProps) {
  return (
    <div data-field={field}>
      <dt>{label}</dt>
      <dd>
        {counts.success} succeeded, {counts.failed} failed
        {counts.skipped !== undefined && `, ${counts.skipped} skipped`}
      </dd>
    </div>
  );
}
