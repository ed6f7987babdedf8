import { type FormEvent, useState } from "react";

type Props = { checking: boolean; problem: string | null; onKey: (key: string) => void };

export function SignIn({ checking, problem, onKey }: Props) {
  const [key, setKey] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (key.trim()) onKey(key.trim());
  };
  return (
    <main className="sign-in" data-state="signed-out">
      <h1>livesync dashboard</h1>
      <form onSubmit={submit}>
        <label>
          Admin key
          <input
            type="password"
            autoComplete="off"
            value={key}
            onChange={(event) => setKey(event.target.value)}
            placeholder="livesync-admin-…"
          />
        </label>
        <button type="submit" disabled={checking}>
          {checking ? "Checking…" : "Sign in"}
        </button>
      </form>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <p className="hint">
        The server printed the key at its first start; <code>livesync admin-key</code> shows it
        again. <code>livesync dev</code> opens this page signed in from the same machine.
      </p>
    </main>
  );
}
