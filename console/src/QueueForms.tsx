import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { ConveyorClient, QueueView } from "../../src/client/index.js";
import { needs, Status } from "./components.js";
import { useOutcome } from "./lib.js";

/**
 * A card's form under its heading, off (saying why) when the key lacks the
 * grant it needs. On submit `action` runs and says what it did; then `onDone`
 * lets the page re-read what changed.
 */
function CardForm(props: {
  id: string;
  title: string;
  allowed: boolean;
  /** Why the form is off, when it is: "Sending needs the send grant on this queue". */
  refusal: string;
  action: () => Promise<string>;
  onDone: () => void;
  children: ComponentChildren;
}) {
  const { outcome, run } = useOutcome();
  return (
    <form
      class="card"
      aria-labelledby={`${props.id}-title`}
      onSubmit={async (event) => {
        event.preventDefault();
        if (await run(props.action)) props.onDone();
      }}
    >
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {!props.allowed && <p class="muted">{props.refusal}.</p>}
      <fieldset disabled={!props.allowed}>{props.children}</fieldset>
      <Status {...outcome} />
    </form>
  );
}

export function SendMessage(props: {
  client: ConveyorClient;
  name: string;
  allowed: boolean;
  onSent: () => void;
}) {
  const { client, name } = props;
  const [body, setBody] = useState('{\n  "hello": "conveyor"\n}');
  const [priority, setPriority] = useState(0);
  const send = async () => {
    let parsed: unknown = body;
    try {
      parsed = JSON.parse(body);
    } catch {
      // not JSON: sent as a string
    }
    const sent = await client.send(name, { body: parsed, ...(priority ? { priority } : {}) });
    return `Sent ${sent.messageId}${sent.duplicate ? " (duplicate)" : ""}`;
  };
  return (
    <CardForm
      id="send"
      title="Send a test message"
      allowed={props.allowed}
      refusal={`Sending ${needs("send")}`}
      action={send}
      onDone={props.onSent}
    >
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
    </CardForm>
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
  const save = async () => {
    await client.updateQueue(queue.name, values);
    return "Saved";
  };
  return (
    <CardForm
      id="settings"
      title="Settings"
      allowed={allowed}
      refusal={`Changing settings ${needs("manage")}`}
      action={save}
      onDone={onSaved}
    >
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
    </CardForm>
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
