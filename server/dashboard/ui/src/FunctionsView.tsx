// Every app function with its kind, visibility and arguments; run one with
// JSON arguments, as the admin, acting as a user, or (in `livesync dev`)
// signed in as a user with a token from the dev issuer, and see its result
// and log lines. A run is its own connection of the official client, whose
// logger hands over the log lines the server sent with the result.
import { ConvexClient } from "convex/browser";
import { useQuery } from "convex/react";
import { makeFunctionReference } from "convex/server";
import { type FormEvent, useState } from "react";
import { type AdminAuth, type FunctionInfo, dashboard, deploymentUrl, errorText } from "./admin";
import { describe, fromText, skeleton, toText } from "./values";

type RunResult = {
  run: number; // counts the page's runs: a new result is told from the last one
  ok: boolean;
  value: unknown;
  error: string | null;
  logs: string[];
  ms: number;
};

// The client logs a function's line as ("%c[CONVEX Q(path)] [LOG]", css, text).
function logLine(args: unknown[]): string {
  const level = /\[(\w+)\]$/.exec(String(args[0]))?.[1] ?? "LOG";
  return `[${level}] ${args.slice(2).map(String).join(" ")}`;
}

let runs = 0;

// Who a run is for: the admin (acting as `identity` if given), or a user
// signed in with `token`, as the app's own clients are.
type Caller = { adminKey: string; identity?: Record<string, unknown> } | { token: string };

// A token the dev issuer at `path` (on this server) signs for `subject`.
async function devToken(path: string, subject: string): Promise<string> {
  const reply = await fetch(`${deploymentUrl}${path}/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sub: subject }),
  });
  const body = (await reply.json()) as { token?: string; error?: string };
  if (!reply.ok || body.token === undefined) {
    throw new Error(`The dev issuer refused: ${body.error ?? reply.status}`);
  }
  return body.token;
}

async function run(
  fn: FunctionInfo,
  args: Record<string, unknown>,
  caller: Caller,
): Promise<RunResult> {
  const number = ++runs;
  const logs: string[] = [];
  const ignore = () => {};
  const logger = {
    log: (...line: unknown[]) => logs.push(logLine(line)),
    warn: ignore,
    error: ignore,
    logVerbose: ignore,
  };
  const client = new ConvexClient(deploymentUrl, { logger, unsavedChangesWarning: false });
  if ("token" in caller) {
    const token = caller.token;
    client.setAuth(async () => token);
  } else {
    (client as unknown as AdminAuth).setAdminAuth(caller.adminKey, caller.identity);
  }
  const started = performance.now();
  try {
    const value =
      fn.kind === "query"
        ? await client.query(makeFunctionReference<"query">(fn.path), args)
        : fn.kind === "mutation"
          ? await client.mutation(makeFunctionReference<"mutation">(fn.path), args)
          : await client.action(makeFunctionReference<"action">(fn.path), args);
    return { run: number, ok: true, value, error: null, logs, ms: performance.now() - started };
  } catch (error) {
    const data = (error as { data?: unknown }).data;
    const message = errorText(error);
    const text = data === undefined ? message : `${message}\ndata: ${toText(data)}`;
    return { run: number, ok: false, value: undefined, error: text, logs, ms: performance.now() - started };
  } finally {
    await client.close();
  }
}

export function FunctionsView({ adminKey }: { adminKey: string }) {
  const functions = useQuery(dashboard.functions);
  const [selected, setSelected] = useState<string | null>(null);
  const fn = functions?.find((f) => f.path === selected);
  return (
    <div className="functions">
      <aside data-testid="functions" data-loaded={functions !== undefined}>
        <h2>Functions</h2>
        <ul>
          {(functions ?? []).map((f) => (
            <li key={f.path}>
              <button
                type="button"
                data-testid={`function-${f.path}`}
                aria-current={f.path === selected ? "true" : undefined}
                onClick={() => setSelected(f.path)}
              >
                <span className={`kind ${f.kind}`}>{f.kind[0].toUpperCase()}</span>
                {f.path}
                {f.visibility === "internal" && <span className="tag">internal</span>}
              </button>
            </li>
          ))}
        </ul>
        {functions?.length === 0 && <p className="hint">This app has no functions.</p>}
      </aside>
      {fn ? (
        <Runner key={fn.path} fn={fn} adminKey={adminKey} />
      ) : (
        <p>Choose a function to see its arguments and run it.</p>
      )}
    </div>
  );
}

function Runner({ fn, adminKey }: { fn: FunctionInfo; adminKey: string }) {
  const [args, setArgs] = useState(() => skeleton(fn.args));
  const [identity, setIdentity] = useState("");
  const [subject, setSubject] = useState("");
  const devIssuer = useQuery(dashboard.health)?.devIssuer ?? null;
  const [result, setResult] = useState<RunResult | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setProblem(null);
    let parsedArgs: Record<string, unknown>;
    let caller: Caller;
    setRunning(true);
    try {
      parsedArgs = fromText(args) as Record<string, unknown>;
      if (subject.trim() && identity.trim()) {
        throw new Error("Act as an identity or sign in as a user, not both");
      }
      if (subject.trim() && devIssuer !== null) {
        caller = { token: await devToken(devIssuer, subject.trim()) };
      } else {
        const text = identity.trim();
        const acting = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
        caller = { adminKey, identity: acting };
      }
    } catch (error) {
      setProblem((error as Error).message);
      setRunning(false);
      return;
    }
    setResult(await run(fn, parsedArgs, caller));
    setRunning(false);
  };
  return (
    <section className="runner" data-testid="runner">
      <h2>
        {fn.path} <span className="tag">{fn.kind}</span>
        <span className="tag">{fn.visibility}</span>
      </h2>
      <p>
        Arguments: <code data-testid="args-type">{describe(fn.args)}</code>
      </p>
      {fn.returns && (
        <p>
          Returns: <code>{describe(fn.returns)}</code>
        </p>
      )}
      <form onSubmit={submit}>
        <label>
          Arguments (JSON)
          <textarea
            rows={5}
            spellCheck={false}
            value={args}
            onChange={(event) => setArgs(event.target.value)}
          />
        </label>
        <label>
          Act as (identity JSON, optional)
          <input
            placeholder='{"subject": "user_123", "issuer": "https://…"}'
            value={identity}
            onChange={(event) => setIdentity(event.target.value)}
          />
        </label>
        {devIssuer !== null && (
          <label>
            Sign in as (a user the dev issuer signs a token for, optional)
            <input
              aria-label="Sign in as"
              placeholder="alice"
              value={subject}
              onChange={(event) => setSubject(event.target.value)}
            />
          </label>
        )}
        <button type="submit" disabled={running}>
          {running ? "Running…" : "Run"}
        </button>
      </form>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {result && (
        <div className="result" data-testid="result" data-ok={result.ok} data-run={result.run}>
          <h3>
            {result.ok ? "Result" : "Error"} <small>{result.ms.toFixed(0)} ms</small>
          </h3>
          <pre data-testid="result-value">
            {result.ok ? toText(result.value, 2) || "null" : result.error}
          </pre>
          <h3>Log lines</h3>
          <ol data-testid="log-lines">
            {result.logs.map((line, n) => (
              <li key={n}>{line}</li>
            ))}
          </ol>
          {result.logs.length === 0 && <p className="hint">None.</p>}
        </div>
      )}
    </section>
  );
}
