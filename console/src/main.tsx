import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  ConveyorApiError,
  ConveyorClient,
  type MessageView,
  type QueueStatsView,
  type QueueView,
} from "../../src/client/index.js";
import "./styles.css";

/**
 * The Conveyor console: a static page that talks to the public v1 API only,
 * with the user's own token or API key (kept in this browser's session).
 */

const TOKEN_KEY = "conveyor.token";
const REFRESH_MS = 2000;
const HISTORY_POINTS = 150; // five minutes at one point every two seconds

type Route = { page: "queues" } | { page: "queue"; name: string };

function parseRoute(hash: string): Route {
  const match = /^#\/queues\/([^/]+)/.exec(hash);
  return match ? { page: "queue", name: decodeURIComponent(match[1] as string) } : { page: "queues" };
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

const describeError = (error: unknown): string =>
  error instanceof ConveyorApiError
    ? `${error.problem?.title ?? "Request failed"}: ${error.problem?.detail ?? error.message} (${error.code})`
    : error instanceof Error
      ? error.message
      : String(error);

/** Runs `load` now and every `everyMs`; keeps the last good value when a refresh fails. */
function usePolling<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]) {
  const [state, setState] = useState<{ value?: T; error?: string; loading: boolean }>({ loading: true });
  const reload = useCallback(async () => {
    try {
      const value = await load();
      setState({ value, loading: false });
    } catch (error) {
      setState((previous) => ({ ...previous, error: describeError(error), loading: false }));
    }
  }, deps);
  useEffect(() => {
    void reload();
    const timer = setInterval(() => void reload(), everyMs);
    return () => clearInterval(timer);
  }, [reload, everyMs]);
  return { ...state, reload };
}

/**
 * Follows the queue's live events where this Conveyor streams them (the local
 * host's Server-Sent Events, read with fetch because EventSource cannot send
 * the Authorization header) and calls `onEvent` for each; on Azure, where
 * events go through Web PubSub, the pages keep polling instead.
 */
function useLiveEvents(client: ConveyorClient, queue: string, onEvent: (type: string) => void) {
  const latest = useRef(onEvent);
  latest.current = onEvent;
  useEffect(() => {
    const abort = new AbortController();
    (async () => {
      if ((await client.negotiateEvents(queue)).transport !== "sse") return;
      for await (const { event } of client.events(queue, abort.signal)) latest.current(event);
    })().catch(() => undefined); // polling carries on
    return () => abort.abort();
  }, [client, queue]);
}

function App() {
  const [token, setToken] = useState(sessionStorage.getItem(TOKEN_KEY) ?? "");
  const client = useMemo(() => new ConveyorClient({ baseUrl: location.origin, token }), [token]);
  const route = useRoute();
  const signIn = (value: string) => {
    sessionStorage.setItem(TOKEN_KEY, value);
    setToken(value);
  };
  if (!token) return <SignIn onToken={signIn} />;
  return (
    <div class="shell">
      <header class="topbar">
        <a href="#/" class="brand">
          Conveyor
        </a>
        <button
          type="button"
          class="link"
          onClick={() => {
            sessionStorage.removeItem(TOKEN_KEY);
            setToken("");
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {route.page === "queues" ? (
          <QueuesPage client={client} />
        ) : (
          <QueuePage client={client} name={route.name} key={route.name} />
        )}
      </main>
    </div>
  );
}

function SignIn({ onToken }: { onToken: (token: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <main class="signin">
      <h1>Conveyor</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (value.trim()) onToken(value.trim());
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
        <p class="hint">
          Locally: <code>npm run -s token -- --tenant demo --roles admin</code>. Kept for this browser session
          only.
        </p>
        <button type="submit">Open the console</button>
      </form>
    </main>
  );
}

interface QueueRow {
  queue: QueueView;
  stats: QueueStatsView;
  enqueueRate?: number;
  ackRate?: number;
}

function QueuesPage({ client }: { client: ConveyorClient }) {
  const previous = useRef(new Map<string, { at: number; stats: QueueStatsView }>());
  const rows = usePolling(
    async (): Promise<QueueRow[]> => {
      const page = await client.listQueues({ limit: 1000 });
      const at = Date.now();
      return Promise.all(
        page.items.map(async (queue) => {
          const stats = await client.stats(queue.name);
          const before = previous.current.get(queue.name);
          previous.current.set(queue.name, { at, stats });
          const seconds = before ? (at - before.at) / 1000 : 0;
          return {
            queue,
            stats,
            ...(before && seconds > 0
              ? {
                  enqueueRate: (stats.enqueuedTotal - before.stats.enqueuedTotal) / seconds,
                  ackRate: (stats.ackedTotal - before.stats.ackedTotal) / seconds,
                }
              : {}),
          };
        }),
      );
    },
    REFRESH_MS,
    [client],
  );
  return (
    <section aria-labelledby="queues-title">
      <div class="section-head">
        <h1 id="queues-title">Queues</h1>
        <CreateQueue client={client} onCreated={() => void rows.reload()} />
      </div>
      {rows.error && (
        <p class="error" role="alert">
          {rows.error}
        </p>
      )}
      {rows.loading ? (
        <p class="muted">Loading queues…</p>
      ) : rows.value?.length === 0 ? (
        <p class="empty">
          No queues yet. Create one above, or with <code>conveyor queues create</code>.
        </p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col" class="num">
                  Available
                </th>
                <th scope="col" class="num">
                  In flight
                </th>
                <th scope="col" class="num wide">
                  Delayed
                </th>
                <th scope="col" class="num">
                  Dead-lettered
                </th>
                <th scope="col" class="num">
                  Oldest age
                </th>
                <th scope="col" class="num wide">
                  Enqueue/s
                </th>
                <th scope="col" class="num wide">
                  Ack/s
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.value?.map(({ queue, stats, enqueueRate, ackRate }) => (
                <tr key={queue.name} data-queue={queue.name}>
                  <th scope="row">
                    <a href={`#/queues/${encodeURIComponent(queue.name)}`}>{queue.name}</a>
                    {queue.ordering === "fifo" && <span class="tag">fifo</span>}
                  </th>
                  <td class="num" data-stat="available">
                    {stats.available}
                  </td>
                  <td class="num" data-stat="inFlight">
                    {stats.inFlight}
                  </td>
                  <td class="num wide" data-stat="delayed">
                    {stats.delayed}
                  </td>
                  <td class={`num${stats.deadLettered > 0 ? " warn" : ""}`} data-stat="deadLettered">
                    {stats.deadLettered}
                  </td>
                  <td class="num">{formatAge(stats.oldestAvailableAgeSeconds)}</td>
                  <td class="num wide">{formatRate(enqueueRate)}</td>
                  <td class="num wide">{formatRate(ackRate)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CreateQueue({ client, onCreated }: { client: ConveyorClient; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [fifo, setFifo] = useState(false);
  const [status, setStatus] = useState<{ error?: string; done?: string }>({});
  return (
    <form
      class="inline"
      onSubmit={async (event) => {
        event.preventDefault();
        try {
          await client.createQueue({ name, ordering: fifo ? "fifo" : "standard" });
          setStatus({ done: `Created ${name}` });
          setName("");
          onCreated();
        } catch (error) {
          setStatus({ error: describeError(error) });
        }
      }}
    >
      <label for="new-queue">New queue</label>
      <input
        id="new-queue"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
        placeholder="orders"
        required
      />
      <label class="check">
        <input type="checkbox" checked={fifo} onChange={(e) => setFifo(e.currentTarget.checked)} /> fifo
      </label>
      <button type="submit">Create</button>
      {status.error && (
        <span class="error" role="alert">
          {status.error}
        </span>
      )}
      {status.done && (
        <span class="ok" role="status">
          {status.done}
        </span>
      )}
    </form>
  );
}

function QueuePage({ client, name }: { client: ConveyorClient; name: string }) {
  const [history, setHistory] = useState<{ at: number; stats: QueueStatsView }[]>([]);
  const queue = usePolling(
    async () => {
      const shown = await client.getQueue(name);
      setHistory((points) => [...points, { at: Date.now(), stats: shown.stats }].slice(-HISTORY_POINTS));
      return shown;
    },
    REFRESH_MS,
    [client, name],
  );
  const [peeked, setPeeked] = useState<string | undefined>();
  const [dlqVersion, setDlqVersion] = useState(0);
  useLiveEvents(client, name, (type) => {
    void queue.reload();
    if (type === "message.dead_lettered") setDlqVersion((version) => version + 1);
  });
  if (queue.loading) return <p class="muted">Loading {name}…</p>;
  if (!queue.value)
    return (
      <p class="error" role="alert">
        {queue.error}
      </p>
    );
  const { stats, ...settings } = queue.value;
  return (
    <section aria-labelledby="queue-title">
      <p>
        <a href="#/">← All queues</a>
      </p>
      <div class="section-head">
        <h1 id="queue-title">{name}</h1>
        <span class="tag">{settings.ordering}</span>
      </div>
      {queue.error && (
        <p class="error" role="alert">
          {queue.error}
        </p>
      )}
      <dl class="stats">
        {(
          [
            ["Available", stats.available],
            ["In flight", stats.inFlight],
            ["Delayed", stats.delayed],
            ["Dead-lettered", stats.deadLettered],
            ["Oldest age", formatAge(stats.oldestAvailableAgeSeconds)],
            ["Enqueued", stats.enqueuedTotal],
            ["Acked", stats.ackedTotal],
          ] as const
        ).map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd data-stat={label}>{value}</dd>
          </div>
        ))}
      </dl>
      <Chart history={history} />
      <div class="columns">
        <SendMessage client={client} name={name} onSent={() => void queue.reload()} />
        <Settings client={client} queue={settings as QueueView} onSaved={() => void queue.reload()} />
      </div>
      <PeekById onPeek={setPeeked} />
      <DeadLetters
        client={client}
        name={name}
        version={dlqVersion}
        onPeek={setPeeked}
        onChanged={() => void queue.reload()}
      />
      {peeked && <Peek client={client} name={name} messageId={peeked} onClose={() => setPeeked(undefined)} />}
    </section>
  );
}

/** Backlog (available) and throughput (acks per second) over the last minutes, as two SVG lines. */
function Chart({ history }: { history: { at: number; stats: QueueStatsView }[] }) {
  const width = 600;
  const height = 140;
  if (history.length < 2) return <p class="muted">Collecting data for the chart…</p>;
  const throughput = history.slice(1).map((point, index) => {
    const before = history[index] as (typeof history)[number];
    return Math.max(0, (point.stats.ackedTotal - before.stats.ackedTotal) / ((point.at - before.at) / 1000));
  });
  const backlog = history.map((point) => point.stats.available);
  const line = (values: number[]) => {
    const max = Math.max(1, ...values);
    return values
      .map(
        (value, index) =>
          `${(index / Math.max(1, values.length - 1)) * width},${height - (value / max) * (height - 10)}`,
      )
      .join(" ");
  };
  const minutes = Math.round((history.at(-1)?.at ?? 0) - (history[0]?.at ?? 0)) / 60000;
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label="Backlog and throughput"
      >
        <polyline class="backlog" points={line(backlog)} />
        <polyline class="throughput" points={line(throughput)} />
      </svg>
      <figcaption>
        <span class="key backlog">backlog (now {backlog.at(-1)})</span>
        <span class="key throughput">acks/s (now {formatRate(throughput.at(-1))})</span>
        <span class="muted">last {minutes.toFixed(1)} min</span>
      </figcaption>
    </figure>
  );
}

function SendMessage({ client, name, onSent }: { client: ConveyorClient; name: string; onSent: () => void }) {
  const [body, setBody] = useState('{\n  "hello": "conveyor"\n}');
  const [priority, setPriority] = useState(0);
  const [status, setStatus] = useState<{ error?: string; done?: string }>({});
  return (
    <form
      class="card"
      aria-labelledby="send-title"
      onSubmit={async (event) => {
        event.preventDefault();
        let parsed: unknown = body;
        try {
          parsed = JSON.parse(body);
        } catch {
          // not JSON: sent as a string
        }
        try {
          const sent = await client.send(name, { body: parsed, ...(priority ? { priority } : {}) });
          setStatus({ done: `Sent ${sent.messageId}${sent.duplicate ? " (duplicate)" : ""}` });
          onSent();
        } catch (error) {
          setStatus({ error: describeError(error) });
        }
      }}
    >
      <h2 id="send-title">Send a test message</h2>
      <label for="send-body">Body (JSON or text)</label>
      <textarea id="send-body" rows={5} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
      <label for="send-priority">Priority</label>
      <input
        id="send-priority"
        type="number"
        min={0}
        max={9}
        value={priority}
        onInput={(e) => setPriority(Number(e.currentTarget.value))}
      />
      <button type="submit">Send</button>
      <Status {...status} />
    </form>
  );
}

function Settings({
  client,
  queue,
  onSaved,
}: {
  client: ConveyorClient;
  queue: QueueView;
  onSaved: () => void;
}) {
  const fields = [
    ["visibilityTimeoutSeconds", "Visibility timeout (s)"],
    ["maxDeliveries", "Max deliveries"],
    ["messageTtlSeconds", "Message TTL (s)"],
    ["deduplicationWindowSeconds", "Dedup window (s)"],
    ["maxMessageBytes", "Max message bytes"],
  ] as const;
  const [values, setValues] = useState(() => Object.fromEntries(fields.map(([key]) => [key, queue[key]])));
  const [status, setStatus] = useState<{ error?: string; done?: string }>({});
  return (
    <form
      class="card"
      aria-labelledby="settings-title"
      onSubmit={async (event) => {
        event.preventDefault();
        try {
          await client.updateQueue(queue.name, values);
          setStatus({ done: "Saved" });
          onSaved();
        } catch (error) {
          setStatus({ error: describeError(error) });
        }
      }}
    >
      <h2 id="settings-title">Settings</h2>
      {fields.map(([key, label]) => (
        <div key={key} class="field">
          <label for={`setting-${key}`}>{label}</label>
          <input
            id={`setting-${key}`}
            type="number"
            value={values[key]}
            onInput={(e) => setValues({ ...values, [key]: Number(e.currentTarget.value) })}
          />
        </div>
      ))}
      <button type="submit">Save settings</button>
      <Status {...status} />
    </form>
  );
}

function PeekById({ onPeek }: { onPeek: (messageId: string) => void }) {
  const [id, setId] = useState("");
  return (
    <form
      class="inline card"
      onSubmit={(event) => {
        event.preventDefault();
        if (id.trim()) onPeek(id.trim());
      }}
    >
      <label for="peek-id">Peek at a message</label>
      <input id="peek-id" value={id} onInput={(e) => setId(e.currentTarget.value)} placeholder="message id" />
      <button type="submit">Peek</button>
    </form>
  );
}

function DeadLetters(props: {
  client: ConveyorClient;
  name: string;
  /** Bumped when a live event says the dead letters changed. */
  version: number;
  onPeek: (messageId: string) => void;
  onChanged: () => void;
}) {
  const { client, name } = props;
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [selected, setSelected] = useState(new Set<string>());
  const [result, setResult] = useState<{ error?: string; done?: string }>({});
  const [confirming, setConfirming] = useState<"purge" | "redriveAll" | undefined>();
  const cursor = cursors.at(-1);
  const page = usePolling(() => client.deadLetters(name, { limit: 20, cursor }), REFRESH_MS * 2, [
    client,
    name,
    cursor,
    props.version,
  ]);
  const messages: MessageView[] = page.value?.messages ?? [];
  const act = async (label: string, action: () => Promise<unknown>) => {
    try {
      const outcome = await action();
      setResult({ done: `${label}: ${JSON.stringify(outcome)}` });
      setSelected(new Set());
      setCursors([undefined]);
      props.onChanged();
      await page.reload();
    } catch (error) {
      setResult({ error: describeError(error) });
    }
  };
  return (
    <section class="card" aria-labelledby="dlq-title">
      <div class="section-head">
        <h2 id="dlq-title">Dead-letter queue</h2>
        <div class="actions">
          <button
            type="button"
            disabled={selected.size === 0}
            onClick={() => act("Redriven", () => client.redrive(name, { messageIds: [...selected] }))}
          >
            Redrive selected ({selected.size})
          </button>
          <button type="button" disabled={messages.length === 0} onClick={() => setConfirming("redriveAll")}>
            Redrive all
          </button>
          <button
            type="button"
            class="danger"
            disabled={messages.length === 0}
            onClick={() => setConfirming("purge")}
          >
            Purge
          </button>
        </div>
      </div>
      {confirming && (
        <div class="confirm" role="alertdialog" aria-labelledby="confirm-text">
          <p id="confirm-text">
            {confirming === "purge"
              ? `Delete every dead letter of ${name}? This cannot be undone.`
              : `Return every dead letter of ${name} to the queue?`}
          </p>
          <button
            type="button"
            class={confirming === "purge" ? "danger" : ""}
            onClick={() => {
              const what = confirming;
              setConfirming(undefined);
              void act(what === "purge" ? "Purged" : "Redriven", () =>
                what === "purge" ? client.purgeDeadLetters(name) : client.redrive(name, { all: true }),
              );
            }}
          >
            {confirming === "purge" ? "Yes, purge" : "Yes, redrive all"}
          </button>
          <button type="button" onClick={() => setConfirming(undefined)}>
            Cancel
          </button>
        </div>
      )}
      <Status {...result} />
      {page.error && (
        <p class="error" role="alert">
          {page.error}
        </p>
      )}
      {page.loading ? (
        <p class="muted">Loading dead letters…</p>
      ) : messages.length === 0 ? (
        <p class="empty">No dead letters.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select all on this page"
                    checked={messages.every((m) => selected.has(m.messageId))}
                    onChange={(e) =>
                      setSelected(new Set(e.currentTarget.checked ? messages.map((m) => m.messageId) : []))
                    }
                  />
                </th>
                <th scope="col">Message</th>
                <th scope="col">Reason</th>
                <th scope="col" class="num">
                  Deliveries
                </th>
                <th scope="col">Last error</th>
                <th scope="col">Body</th>
              </tr>
            </thead>
            <tbody>
              {messages.map((message) => (
                <tr key={message.messageId} data-message={message.messageId}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${message.messageId}`}
                      checked={selected.has(message.messageId)}
                      onChange={(e) => {
                        const next = new Set(selected);
                        if (e.currentTarget.checked) next.add(message.messageId);
                        else next.delete(message.messageId);
                        setSelected(next);
                      }}
                    />
                  </td>
                  <td>
                    <button type="button" class="link mono" onClick={() => props.onPeek(message.messageId)}>
                      {message.messageId.slice(0, 8)}…
                    </button>
                  </td>
                  <td>{message.reason}</td>
                  <td class="num">{message.deliveryCount}</td>
                  <td class="clip">{message.lastError ?? "—"}</td>
                  <td class="clip mono">{preview(message.body)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="pager">
        <button
          type="button"
          disabled={cursors.length === 1}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          Previous
        </button>
        <button
          type="button"
          disabled={!page.value?.nextCursor}
          onClick={() => setCursors([...cursors, page.value?.nextCursor])}
        >
          Next
        </button>
      </div>
    </section>
  );
}

function Peek(props: { client: ConveyorClient; name: string; messageId: string; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [state, setState] = useState<{ message?: MessageView; error?: string }>({});
  useEffect(() => {
    dialog.current?.showModal();
    props.client
      .peek(props.name, props.messageId)
      .then((message) => setState({ message }))
      .catch((error: unknown) => setState({ error: describeError(error) }));
  }, [props.messageId]);
  return (
    <dialog ref={dialog} class="peek" onClose={props.onClose} aria-labelledby="peek-title">
      <h2 id="peek-title">Message {props.messageId}</h2>
      {state.error && (
        <p class="error" role="alert">
          {state.error}
        </p>
      )}
      {!state.message && !state.error && <p class="muted">Loading…</p>}
      {state.message && (
        <>
          <dl class="facts">
            <dt>State</dt>
            <dd data-field="state">{state.message.state}</dd>
            <dt>Deliveries</dt>
            <dd>{state.message.deliveryCount}</dd>
            <dt>Reason</dt>
            <dd>{state.message.reason ?? "—"}</dd>
            <dt>Last error</dt>
            <dd>{state.message.lastError ?? "—"}</dd>
            <dt>Enqueued</dt>
            <dd>{state.message.enqueuedAt}</dd>
          </dl>
          <h3>Attributes</h3>
          <pre>{JSON.stringify(state.message.attributes, null, 2)}</pre>
          <h3>Body</h3>
          <pre data-field="body">{JSON.stringify(state.message.body, null, 2)}</pre>
        </>
      )}
      <form method="dialog">
        <button type="submit">Close</button>
      </form>
    </dialog>
  );
}

/** The outcome of the last action on a form: an error to read, or what was done. */
function Status({ error, done }: { error?: string; done?: string }) {
  if (error) {
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  }
  return done ? (
    <p class="ok" role="status">
      {done}
    </p>
  ) : null;
}

const preview = (body: unknown) => {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
};

function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

const formatRate = (rate: number | undefined) => (rate === undefined ? "—" : rate.toFixed(1));

render(<App />, document.getElementById("app") as HTMLElement);
