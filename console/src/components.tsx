import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ConveyorClient, MessageView } from "../../src/client/index.js";
import { describeError, formatTime } from "./lib.js";

/** The outcome of the last action on a form: an error to read, or what was done. */
export function Status({ error, done }: { error?: string; done?: string }) {
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

export function Pager({
  pages,
  nextCursor,
}: {
  pages: ReturnType<typeof useCursorPages>;
  nextCursor?: string;
}) {
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
export function Polled(props: {
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
