// The dashboard's functions on the server (server/admin/dashboard.py) and
// the admin key's handling. Only a client holding the admin key reaches them.
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference, type PaginationResult } from "convex/server";

export type Value = unknown;
export type Document = { _id: string; _creationTime: number } & Record<string, Value>;

// A validator as the server describes it (Convex's JSON form).
export type ValidatorJson =
  | { type: "null" | "number" | "bigint" | "boolean" | "string" | "bytes" | "any" }
  | { type: "id"; tableName: string }
  | { type: "literal"; value: Value }
  | { type: "array"; value: ValidatorJson }
  | { type: "union"; value: ValidatorJson[] }
  | { type: "object"; value: Record<string, { fieldType: ValidatorJson; optional: boolean }> }
  | { type: "record"; keys: ValidatorJson; values: { fieldType: ValidatorJson } };

export type TableInfo = {
  name: string;
  system: boolean;
  inSchema: boolean;
  empty: boolean;
  indexes: { name: string; fields: string[] }[];
  searchIndexes: { name: string; searchField: string; filterFields: string[] }[];
  documentValidator: ValidatorJson | null;
};

export type FunctionKind = "query" | "mutation" | "action";

export type FunctionInfo = {
  path: string;
  kind: FunctionKind;
  visibility: "public" | "internal";
  args: ValidatorJson | null;
  returns: ValidatorJson | null;
};

// A node's document in `_nodes`, refreshed by the node while it runs.
export type NodeEntry = {
  _id: string;
  nodeId: string;
  url: string;
  host: string;
  pid: number;
  version: string;
  backend: string;
  startedAt: number;
  lastSeen: number;
  connections: Record<AuthState, number>;
  // Absent from a node of a version before the figures (server/admin/stats.py).
  stats?: NodeStats;
};

export const AUTH_STATES = ["authenticated", "unauthenticated", "loading"] as const;
export type AuthState = (typeof AUTH_STATES)[number];

// A node's figures; counts are cumulative since it started.
export type NodeStats = {
  subscriptions: number;
  queryExecutions: number;
  queryMeanMs: number;
  // The most executed first; meanMs and cronRuns are absent from the
  // reports of a node from before them.
  queries: { path: string; executions: number; meanMs?: number }[];
  mutations: { ok: number; error: number };
  commits: number;
  commitMeanMs: number;
  scheduledJobs: { success: number; failed: number }; // cron runs apart
  cronRuns?: { success: number; failed: number; skipped?: number };
};

export type Health = {
  version: string;
  storeBackend: string;
  nodeId: string;
  startedAt: number;
  functionsDir: string;
  functionCount: number;
  devIssuer: string | null; // its path on this server, in `livesync dev`
  nodes: NodeEntry[];
};

// A call in `_function_logs` (server/admin/function_logs.py).
export type LogEntry = {
  _id: string;
  nodeId: string;
  path: string;
  kind: FunctionKind | "httpAction";
  startedAt: number;
  durationMs: number;
  ok: boolean;
  error: string | null;
  logLines: string[];
  subject: string | null;
};

// Each narrows the log to the calls equal to it.
export type LogFilters = { path?: string; kind?: string; ok?: boolean };

export type Filter = { field: string; op: "eq" | "neq" | "lt" | "lte" | "gt" | "gte"; value: Value };

export type DocumentsArgs = {
  table: string;
  index?: string;
  order?: "asc" | "desc";
  filters?: Filter[];
};

const ref = makeFunctionReference;
type NoArgs = Record<string, never>;

export const dashboard = {
  tables: ref<"query", NoArgs, TableInfo[]>("_system/dashboard:tables"),
  documents: ref<
    "query",
    DocumentsArgs & { paginationOpts: { numItems: number; cursor: string | null } },
    PaginationResult<Document>
  >("_system/dashboard:documents"),
  functions: ref<"query", NoArgs, FunctionInfo[]>("_system/dashboard:functions"),
  health: ref<"query", NoArgs, Health>("_system/dashboard:health"),
  logs: ref<
    "query",
    LogFilters & { paginationOpts: { numItems: number; cursor: string | null } },
    PaginationResult<LogEntry>
  >("_system/dashboard:logs"),
  insertDocument: ref<"mutation", { table: string; document: Value }, string>(
    "_system/dashboard:insertDocument",
  ),
  replaceDocument: ref<"mutation", { id: string; document: Value }, null>(
    "_system/dashboard:replaceDocument",
  ),
  deleteDocument: ref<"mutation", { id: string }, null>("_system/dashboard:deleteDocument"),
};

// The official clients' setAdminAuth, which Convex's own dashboard uses; its
// type declarations leave it out (it is marked @internal there).
export type AdminAuth = {
  setAdminAuth(key: string, actingAs?: Record<string, Value>): void;
};

export const deploymentUrl = window.location.origin;

const STORAGE_KEY = "livesync-admin-key";

// The key `livesync dev` put in the page for a visitor on its machine.
export function injectedKey(): string | null {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="livesync-admin-key"]');
  return meta?.content || null;
}

export function savedKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function saveKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, key);
}

// Whether `key` is this deployment's admin key: one call of a dashboard
// function over HTTP, which answers 401 to any other key.
export async function checkKey(key: string): Promise<string | null> {
  const http = new ConvexHttpClient(deploymentUrl, { logger: false });
  (http as unknown as AdminAuth).setAdminAuth(key);
  try {
    await http.query(dashboard.health, {});
    return null;
  } catch (error) {
    const text = String((error as Error).message ?? error);
    return text.includes("401") || text.includes("Unauthenticated") || text.includes("admin key")
      ? "That is not this deployment's admin key."
      : `The server did not answer: ${text}`;
  }
}

// A failed call's message without the client's decoration
// ("[CONVEX M(path)] ...\n  Called by client").
export function errorText(error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  return message.replace(/^\[CONVEX [A-Z?]\([^)]*\)\] /, "").replace(/\s*Called by client$/, "");
}
