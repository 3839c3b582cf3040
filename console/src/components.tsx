import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ConveyorClient, MessageView } from "../../src/client/index.js";
import { describeError, formatTime, useOutcome } from "./lib.js";

/**
 * The outcome of the last action on a form: an error to read, or what was
 * done; `inline` beside the controls of a one-line form rather than under it.
 */
export function Status({ error, done, inline = false }: { error?: string; done?: string; inline?: boolean }) {
  const Line = inline ? "span" : "p";
  if (error) {
    return (
      <Line class="error" role="alert">
        {error}
      </Line>
    );
  }
  return done ? (
    <Line class="ok" role="status">
      {done}
    </Line>
  ) : null;
}

/**
 * The one-line form that creates a queue or a topic by name: `create` makes
 * it; `children` are more controls before the button, such as a queue's
 * ordering.
 */
export function CreateByName(props: {
  id: string;
  label: string;
  placeholder: string;
  create: (name: string) => Promise<void>;
  children?: ComponentChildren;
}) {
  const [name, setName] = useState("");
  const { outcome, run } = useOutcome();
  const created = async () => {
    await props.create(name);
    return `Created ${name}`;
  };
  return (
    <form
      class="inline"
      onSubmit={async (event) => {
        event.preventDefault();
        if (await run(created)) setName("");
      }}
    >
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
        placeholder={props.placeholder}
        required
      />
      {props.children}
      <button type="submit">Create</button>
      <Status {...outcome} inline />
    </form>
  );
}

/**
 * A message id as people can tell ids apart: time-ordered ids share their
 * beginning, so the end is shown (the whole id on hover), in monospace, with
 * a button that copies the whole id.
 */
export function MessageId({ id, onOpen }: { id: string; onOpen?: () => void }) {
  const [copied, setCopied] = useState(false);
  const tail = id.length > 12 ? `…${id.slice(-12)}` : id;
  return (
    <span class="message-id">
      {onOpen ? (
        <button type="button" class="link mono" title={id} onClick={onOpen}>
          {tail}
        </button>
      ) : (
        <span class="mono" title={id}>
          {tail}
        </span>
      )}
      <button
        type="button"
        class="copy"
        aria-label={`Copy ${id}`}
        onClick={() => {
          void navigator.clipboard?.writeText(id).then(() => setCopied(true));
          setTimeout(() => setCopied(false), 1500);
        }}
      >
        {copied ? "copied" : "copy"}
      </button>
    </span>
  );
}

export function Peek(props: {
  client: ConveyorClient;
  name: string;
  messageId: string;
  onClose: () => void;
}) {
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
      <h2 id="peek-title">
        Message <span class="mono">{props.messageId}</span>
      </h2>
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
            <dt>Lease expires</dt>
            <dd>{formatTime(state.message.leaseExpiresAt)}</dd>
            <dt>Reason</dt>
            <dd>{state.message.reason ?? "—"}</dd>
            <dt>Last error</dt>
            <dd>{state.message.lastError ?? "—"}</dd>
            <dt>Enqueued</dt>
            <dd>{formatTime(state.message.enqueuedAt)}</dd>
            <dt>Dead-lettered</dt>
            <dd>{formatTime(state.message.deadLetteredAt)}</dd>
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

/** Why a control is off: shown beside it, so a read-only key sees what it may not do and why. */
export const needs = (grant: string) => `needs the ${grant} grant on this queue`;

/** A list's pages by cursor: the cursors walked so far, so Previous goes back without the server's help. */
export function useCursorPages() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors.at(-1),
    canGoBack: cursors.length > 1,
    back: () => setCursors(cursors.slice(0, -1)),
    forward: (next: string | undefined) => setCursors([...cursors, next]),
    restart: () => setCursors([undefined]),
  };
}

function Pager({ pages, nextCursor }: { pages: ReturnType<typeof useCursorPages>; nextCursor?: string }) {
  return (
    <div class="pager">
      <button type="button" disabled={!pages.canGoBack} onClick={pages.back}>
        Previous
      </button>
      <button type="button" disabled={!nextCursor} onClick={() => pages.forward(nextCursor)}>
        Next
      </button>
    </div>
  );
}

/** A row of buttons of which one is chosen; `name` marks each with `data-<name>` for tests and styles. */
export function Tabs<T extends string | number>(props: {
  options: readonly (readonly [T, string])[];
  selected: T;
  onSelect: (value: T) => void;
  name: string;
}) {
  return (
    <div class="tabs" role="tablist">
      {props.options.map(([value, label]) => (
        <button
          key={value}
          type="button"
          role="tab"
          aria-selected={props.selected === value}
          {...{ [`data-${props.name}`]: value }}
          onClick={() => props.onSelect(value)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

/**
 * What a polled list shows: its error (above the last good answer, which
 * polling keeps), a loading line until the first answer, `empty` when there
 * is nothing to list, and the list itself otherwise.
 */
function Polled(props: {
  state: { error?: string; loading: boolean };
  loading: string;
  isEmpty: boolean;
  empty: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <>
      {props.state.error && (
        <p class="error" role="alert">
          {props.state.error}
        </p>
      )}
      {props.state.loading ? (
        <p class="muted">{props.loading}</p>
      ) : props.isEmpty ? (
        <p class="empty">{props.empty}</p>
      ) : (
        props.children
      )}
    </>
  );
}

/**
 * The page that lists the tenant's queues or topics: its heading beside the
 * form that creates one, then the polled list, or how to create the first.
 */
export function ListPage(props: {
  kind: "queues" | "topics";
  title: string;
  createForm: ComponentChildren;
  state: { error?: string; loading: boolean };
  isEmpty: boolean;
  children: ComponentChildren;
}) {
  const { kind } = props;
  return (
    <section aria-labelledby={`${kind}-title`}>
      <div class="section-head">
        <h1 id={`${kind}-title`}>{props.title}</h1>
        {props.createForm}
      </div>
      <Polled
        state={props.state}
        loading={`Loading ${kind}…`}
        isEmpty={props.isEmpty}
        empty={
          <>
            No {kind} yet. Create one above, or with <code>conveyor {kind} create</code>.
          </>
        }
      >
        {props.children}
      </Polled>
    </section>
  );
}

/** A table with its header row, wrapped so that a narrow screen scrolls the table sideways, not the page. */
export function Table(props: {
  head: ComponentChildren;
  children: ComponentChildren;
  /** More attributes of the table element, such as `data-*` for tests and styles. */
  attributes?: Record<string, string>;
}) {
  return (
    <div class="table-wrap">
      <table {...props.attributes}>
        <thead>
          <tr>{props.head}</tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** A polled list shown a page at a time: `Polled`'s states around a `Table`, and the `Pager` under them. */
export function PagedTable(props: {
  state: { error?: string; loading: boolean };
  loading: string;
  isEmpty: boolean;
  empty: ComponentChildren;
  head: ComponentChildren;
  /** More attributes of the table element, such as `data-*` for tests and styles. */
  attributes?: Record<string, string>;
  pages: ReturnType<typeof useCursorPages>;
  nextCursor?: string;
  children: ComponentChildren;
}) {
  return (
    <>
      <Polled state={props.state} loading={props.loading} isEmpty={props.isEmpty} empty={props.empty}>
        <Table head={props.head} attributes={props.attributes}>
          {props.children}
        </Table>
      </Polled>
      <Pager pages={props.pages} nextCursor={props.nextCursor} />
    </>
  );
}
