// Function calls as they happen: a paginated subscription to
// _system/dashboard:logs, newest first. The server writes the calls of every
// node once a second (server/admin/function_logs.py), so a call shows here
// about a second after it ends, as the commit that records it lands. A page
// counts the table's documents, each the calls of one function, kind and
// outcome in one second of one node: a busy second is a few documents.
import { usePaginatedQuery, useQuery } from "convex/react";
import { useState } from "react";
import { type LogEntry, type LogFilters, dashboard } from "./admin";

const PAGE_SIZE = 20;
const KINDS = ["query", "mutation", "action", "httpAction"] as const;

export function LogsView() {
  const [filters, setFilters] = useState<LogFilters>({});
  const functions = useQuery(dashboard.functions);
  const { results, status, loadMore } = usePaginatedQuery(dashboard.logs, filters, {
    initialNumItems: PAGE_SIZE,
  });
  const set = (change: Partial<LogFilters>) => {
    const next: LogFilters = { ...filters, ...change };
    for (const key of Object.keys(next) as (keyof LogFilters)[]) {
      if (next[key] === undefined) delete next[key];
    }
    setFilters(next);
  };
  return (
    <section className="logs" data-testid="logs">
      <div className="toolbar">
        <h2>Logs</h2>
        <Choice
          label="Function"
          value={filters.path ?? ""}
          options={(functions ?? []).map((f) => [f.path, f.path])}
          onChange={(path) => set({ path: path || undefined })}
        />
        <Choice
          label="Kind"
          value={filters.kind ?? ""}
          options={KINDS.map((kind) => [kind, kind])}
          onChange={(kind) => set({ kind: kind || undefined })}
        />
        <Choice
          label="Outcome"
          value={filters.ok === undefined ? "" : String(filters.ok)}
          options={[
            ["true", "success"],
            ["false", "failure"],
          ]}
          onChange={(ok) => set({ ok: ok === "" ? undefined : ok === "true" })}
        />
      </div>
      <table data-testid="log-entries" data-status={status}>
        <thead>
          <tr>
            <th>Time</th>
            <th>Node</th>
            <th>Kind</th>
            <th>Function</th>
            <th>Duration</th>
            <th>Outcome</th>
            <th>Caller</th>
            <th>Log lines</th>
          </tr>
        </thead>
        <tbody>
          {results.map((entry) => (
            <LogRow key={entry._id} entry={entry} />
          ))}
        </tbody>
      </table>
      {results.length === 0 && status !== "LoadingFirstPage" && (
        <p className="hint">
          No calls{Object.keys(filters).length ? " match the filters" : " yet"}. The newest{" "}
          <code>[server] function_log_entries</code> calls are kept (5,000 unless set; 0
          keeps none).
        </p>
      )}
      {status === "CanLoadMore" && (
        <button type="button" onClick={() => loadMore(PAGE_SIZE)}>
          Load more
        </button>
      )}
    </section>
  );
}

type ChoiceProps = {
  label: string;
  value: string; // "": any
  options: [value: string, text: string][];
  onChange: (value: string) => void;
};

function Choice({ label, value, options, onChange }: ChoiceProps) {
  return (
    <label>
      {label}
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">any</option>
        {options.map(([option, text]) => (
          <option key={option} value={option}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

function LogRow({ entry }: { entry: LogEntry }) {
  const started = new Date(entry.startedAt);
  return (
    <tr data-path={entry.path} data-ok={entry.ok}>
      <td title={started.toISOString()}>{started.toLocaleTimeString()}</td>
      <td>{entry.nodeId}</td>
      <td>{entry.kind}</td>
      <td data-field="path">{entry.path}</td>
      <td>{entry.durationMs.toFixed(1)} ms</td>
      <td data-field="outcome" className={entry.ok ? "ok" : "failed"} title={entry.error ?? ""}>
        {entry.ok ? "success" : entry.error}
      </td>
      <td>{entry.subject ?? ""}</td>
      <td data-field="log-lines">
        {entry.logLines.length > 0 && (
          <details>
            <summary>{lineCount(entry.logLines.length)}</summary>
            <ol>
              {entry.logLines.map((line, i) => (
                <li key={i}>{line}</li>
              ))}
            </ol>
          </details>
        )}
      </td>
    </tr>
  );
}

function lineCount(n: number): string {
  return n === 1 ? "1 line" : `${n} lines`;
}
