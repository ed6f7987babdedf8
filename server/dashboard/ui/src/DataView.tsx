// Every table and its documents, live: the documents are a paginated
// subscription to _system/dashboard:documents, so another client's commit
// shows here as it lands. Edits are mutations checked against the schema.
import { useMutation, usePaginatedQuery, useQuery } from "convex/react";
import { type FormEvent, useEffect, useState } from "react";
import { type Document, type Filter, type TableInfo, dashboard, errorText } from "./admin";
import { fromText, looseValue, skeleton, toText, userFields } from "./values";

const PAGE_SIZE = 25;
const OPERATORS: Filter["op"][] = ["eq", "neq", "lt", "lte", "gt", "gte"];
const OPERATOR_TEXT: Record<Filter["op"], string> = {
  eq: "=",
  neq: "≠",
  lt: "<",
  lte: "≤",
  gt: ">",
  gte: "≥",
};

function tableInHash(): string | null {
  const [view, table] = window.location.hash.replace(/^#\/?/, "").split("/");
  return view === "data" && table ? decodeURIComponent(table) : null;
}

export function DataView() {
  const tables = useQuery(dashboard.tables);
  const [selected, setSelected] = useState<string | null>(tableInHash);
  useEffect(() => {
    if (selected === null && tables && tables.length > 0) setSelected(tables[0].name);
  }, [tables, selected]);
  const table = tables?.find((t) => t.name === selected);
  const choose = (name: string) => {
    setSelected(name);
    window.history.replaceState(null, "", `#/data/${encodeURIComponent(name)}`);
  };
  return (
    <div className="data">
      <aside data-testid="tables" data-loaded={tables !== undefined}>
        <h2>Tables</h2>
        <ul>
          {(tables ?? []).map((t) => (
            <li key={t.name}>
              <button
                type="button"
                data-testid={`table-${t.name}`}
                aria-current={t.name === selected ? "true" : undefined}
                onClick={() => choose(t.name)}
              >
                {t.name}
                {t.empty && <span className="tag">empty</span>}
                {t.system && <span className="tag">system</span>}
              </button>
            </li>
          ))}
        </ul>
      </aside>
      {table ? <TableView key={table.name} table={table} /> : <p>No table chosen.</p>}
    </div>
  );
}

type Editing = { mode: "insert" } | { mode: "edit"; doc: Document } | null;

function TableView({ table }: { table: TableInfo }) {
  const [index, setIndex] = useState("by_creation_time");
  const [order, setOrder] = useState<"asc" | "desc">("desc");
  const [filters, setFilters] = useState<Filter[]>([]);
  const [editing, setEditing] = useState<Editing>(null);
  const { results, status, loadMore } = usePaginatedQuery(
    dashboard.documents,
    { table: table.name, index, order, filters },
    { initialNumItems: PAGE_SIZE },
  );
  const columns = columnsOf(results);
  const writable = !table.system;
  return (
    <section className="table-view">
      <div className="toolbar">
        <h2>{table.name}</h2>
        <label>
          Index
          <select value={index} onChange={(event) => setIndex(event.target.value)}>
            {table.indexes.map((i) => (
              <option key={i.name} value={i.name}>
                {i.name} ({i.fields.join(", ")})
              </option>
            ))}
          </select>
        </label>
        <label>
          Order
          <select
            value={order}
            onChange={(event) => setOrder(event.target.value as "asc" | "desc")}
          >
            <option value="asc">ascending</option>
            <option value="desc">descending</option>
          </select>
        </label>
        {writable && (
          <button type="button" onClick={() => setEditing({ mode: "insert" })}>
            Add document
          </button>
        )}
      </div>
      <FilterBar filters={filters} onChange={setFilters} />
      {editing && (
        <Editor
          table={table}
          editing={editing}
          onDone={() => setEditing(null)}
          key={editing.mode === "edit" ? editing.doc._id : "insert"}
        />
      )}
      <table data-testid="documents" data-status={status}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
            {writable && <th />}
          </tr>
        </thead>
        <tbody>
          {results.map((doc) => (
            <Row
              key={doc._id}
              doc={doc}
              columns={columns}
              writable={writable}
              onEdit={() => setEditing({ mode: "edit", doc })}
            />
          ))}
        </tbody>
      </table>
      {results.length === 0 && status !== "LoadingFirstPage" && (
        <p className="hint">No documents{filters.length ? " match the filters" : ""}.</p>
      )}
      {status === "CanLoadMore" && (
        <button type="button" onClick={() => loadMore(PAGE_SIZE)}>
          Load more
        </button>
      )}
    </section>
  );
}

// _id first, the user fields in order of appearance, _creationTime last.
function columnsOf(docs: Document[]): string[] {
  const seen = new Set<string>();
  for (const doc of docs) for (const key of Object.keys(doc)) seen.add(key);
  seen.delete("_id");
  seen.delete("_creationTime");
  return ["_id", ...[...seen].sort(), "_creationTime"];
}

type RowProps = { doc: Document; columns: string[]; writable: boolean; onEdit: () => void };

function Row({ doc, columns, writable, onEdit }: RowProps) {
  const remove = useMutation(dashboard.deleteDocument);
  const [confirming, setConfirming] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const cell = (column: string) =>
    column === "_creationTime"
      ? new Date(doc._creationTime).toISOString()
      : column in doc
        ? toText(doc[column])
        : "";
  const del = async () => {
    try {
      await remove({ id: doc._id });
    } catch (error) {
      setProblem(errorText(error));
      setConfirming(false);
    }
  };
  return (
    <tr data-id={doc._id}>
      {columns.map((c) => (
        <td key={c} data-field={c}>
          {cell(c)}
        </td>
      ))}
      {writable && (
        <td className="actions">
          <button type="button" onClick={onEdit}>
            Edit
          </button>
          {confirming ? (
            <button type="button" className="danger" onClick={() => void del()}>
              Really delete
            </button>
          ) : (
            <button type="button" onClick={() => setConfirming(true)}>
              Delete
            </button>
          )}
          {problem && <span className="error">{problem}</span>}
        </td>
      )}
    </tr>
  );
}

function FilterBar({ filters, onChange }: { filters: Filter[]; onChange: (f: Filter[]) => void }) {
  const [field, setField] = useState("");
  const [op, setOp] = useState<Filter["op"]>("eq");
  const [value, setValue] = useState("");
  const add = (event: FormEvent) => {
    event.preventDefault();
    if (!field.trim()) return;
    onChange([...filters, { field: field.trim(), op, value: looseValue(value) }]);
    setField("");
    setValue("");
  };
  return (
    <form className="filters" onSubmit={add}>
      {filters.map((f, n) => (
        <span className="chip" key={n} data-testid="filter">
          {f.field} {OPERATOR_TEXT[f.op]} {toText(f.value)}
          <button
            type="button"
            aria-label="Remove filter"
            onClick={() => onChange(filters.filter((_, m) => m !== n))}
          >
            ×
          </button>
        </span>
      ))}
      <input
        aria-label="Filter field"
        placeholder="field"
        value={field}
        onChange={(event) => setField(event.target.value)}
      />
      <select
        aria-label="Filter operator"
        value={op}
        onChange={(event) => setOp(event.target.value as Filter["op"])}
      >
        {OPERATORS.map((o) => (
          <option key={o} value={o}>
            {OPERATOR_TEXT[o]}
          </option>
        ))}
      </select>
      <input
        aria-label="Filter value"
        placeholder="value (JSON)"
        value={value}
        onChange={(event) => setValue(event.target.value)}
      />
      <button type="submit">Filter</button>
    </form>
  );
}

type EditorProps = { table: TableInfo; editing: NonNullable<Editing>; onDone: () => void };

function Editor({ table, editing, onDone }: EditorProps) {
  const insert = useMutation(dashboard.insertDocument);
  const replace = useMutation(dashboard.replaceDocument);
  const [text, setText] = useState(() =>
    editing.mode === "edit"
      ? toText(userFields(editing.doc), 2)
      : skeleton(table.documentValidator),
  );
  const [problem, setProblem] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaving(true);
    try {
      const document = fromText(text);
      if (editing.mode === "edit") await replace({ id: editing.doc._id, document });
      else await insert({ table: table.name, document });
      onDone();
    } catch (error) {
      setProblem(errorText(error));
    } finally {
      setSaving(false);
    }
  };
  return (
    <form className="editor" onSubmit={save} data-testid="editor">
      <h3>{editing.mode === "edit" ? `Edit ${editing.doc._id}` : `New document in ${table.name}`}</h3>
      <textarea
        aria-label="Document"
        rows={8}
        spellCheck={false}
        value={text}
        onChange={(event) => setText(event.target.value)}
      />
      {problem && (
        <pre className="error" role="alert">
          {problem}
        </pre>
      )}
      <div>
        <button type="submit" disabled={saving}>
          Save
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
