import { useState } from "preact/hooks";

/**
 * Asks for a token or API key. `check` tries it against the API before it
 * is kept, so a wrong one is refused here with the server's reason, not
 * after with an empty page; `reason` says why the last session ended.
 */
export function SignIn(props: { check: (token: string) => Promise<string | undefined>; reason?: string }) {
  const [value, setValue] = useState("");
  const [refused, setRefused] = useState<string | undefined>();
  const [checking, setChecking] = useState(false);
  return (
    <main class="signin">
      <h1>Conveyor</h1>
      {props.reason && !refused && (
        <p class="error" role="alert" data-reason="ended">
          Signed out: {props.reason}
        </p>
      )}
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          if (!value.trim()) return;
          setChecking(true);
          setRefused(await props.check(value.trim()));
          setChecking(false);
        }}
      >
        <label for="token">Bearer token or API key</label>
        <textarea
          id="token"
          rows={4}
          value={value}
          onInput={(event) => setValue(event.currentTarget.value)}
          placeholder="eyJ… or cvk.key_…"
        />
        {refused && (
          <p class="error" role="alert" data-reason="refused">
            Not accepted: {refused}
          </p>
        )}
        <p class="hint">
          Locally: <code>npm run -s token -- --tenant demo --roles admin</code>. Kept for this browser session
          only.
        </p>
        <button type="submit" disabled={checking}>
          {checking ? "Checking…" : "Open the console"}
        </button>
      </form>
    </main>
  );
}
