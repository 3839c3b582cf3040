import { useState } from "preact/hooks";
import type { ConveyorClient, QueueView } from "../../src/client/index.js";
import { needs, Status } from "./components.js";
import { describeError } from "./lib.js";

export function SendMessage(props: {
  client: ConveyorClient;
  name: string;
  allowed: boolean;
  onSent: () => void;
}) {
  const { client, name, onSent } = props;
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
      {!props.allowed && <p class="muted">Sending {needs("send")}.</p>}
      <fieldset disabled={!props.allowed}>
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
      </fieldset>
      <Status {...status} />
    </form>
  );
}

export function Settings({
  client,
  queue,
  allowed,
  onSaved,
}: {
  client: ConveyorClient;
  queue: QueueView;
  allowed: boolean;
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
      {!allowed && <p class="muted">Changing settings {needs("manage")}.</p>}
      <fieldset disabled={!allowed}>
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
      </fieldset>
      <Status {...status} />
    </form>
  );
}

export function PeekById({ onPeek }: { onPeek: (messageId: string) => void }) {
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
