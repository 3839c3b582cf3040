import { useState } from "preact/hooks";
import type { ConveyorClient, MessageView, RedriveView } from "../../src/client/index.js";
import { MessageId, needs, PagedTable, Status, useCursorPages } from "./components.js";
import { formatTime, plural, preview, REFRESH_MS, useOutcome, usePolling } from "./lib.js";

export function DeadLetters(props: {
  client: ConveyorClient;
  name: string;
  /** Bumped when a live event says the dead letters changed. */
  version: number;
  /** Redrive and purge need `manage`. */
  canManage: boolean;
  onPeek: (messageId: string) => void;
  onChanged: () => void;
}) {
  const { client, name } = props;
  const pages = useCursorPages();
  const [selected, setSelected] = useState(new Set<string>());
  const { outcome, run } = useOutcome();
  const [confirming, setConfirming] = useState<"purge" | "redriveAll" | undefined>();
  const { cursor } = pages;
  const page = usePolling(() => client.deadLetters(name, { limit: 20, cursor }), REFRESH_MS * 2, [
    client,
    name,
    cursor,
    props.version,
  ]);
  const messages: MessageView[] = page.value?.messages ?? [];
  const act = async (action: () => Promise<string>) => {
    if (!(await run(action))) return;
    setSelected(new Set());
    pages.restart();
    props.onChanged();
    await page.reload();
  };
  return (
    <section class="card" aria-labelledby="dlq-title">
      <div class="section-head">
        <h2 id="dlq-title">Dead-letter queue</h2>
        <div class="actions">
          <button
            type="button"
            disabled={!props.canManage || selected.size === 0}
            title={props.canManage ? undefined : needs("manage")}
            onClick={() =>
              act(async () => redriven(await client.redrive(name, { messageIds: [...selected] })))
            }
          >
            Redrive selected ({selected.size})
          </button>
          <button
            type="button"
            disabled={!props.canManage || messages.length === 0}
            title={props.canManage ? undefined : needs("manage")}
            onClick={() => setConfirming("redriveAll")}
          >
            Redrive all
          </button>
          <button
            type="button"
            class="danger"
            disabled={!props.canManage || messages.length === 0}
            title={props.canManage ? undefined : needs("manage")}
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
              void act(async () =>
                what === "purge"
                  ? `Deleted ${plural((await client.purgeDeadLetters(name)).purged, "dead letter")}`
                  : redriven(await client.redrive(name, { all: true })),
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
      <Status {...outcome} />
      <PagedTable
        state={page}
        loading="Loading dead letters…"
        isEmpty={messages.length === 0}
        empty="No dead letters."
        pages={pages}
        nextCursor={page.value?.nextCursor}
        head={
          <>
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
            <th scope="col">Dead-lettered</th>
            <th scope="col">Reason</th>
            <th scope="col" class="num">
              Deliveries
            </th>
            <th scope="col">Last error</th>
            <th scope="col">Body</th>
          </>
        }
      >
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
              <MessageId id={message.messageId} onOpen={() => props.onPeek(message.messageId)} />
            </td>
            <td data-field="deadLetteredAt">{formatTime(message.deadLetteredAt)}</td>
            <td>{message.reason}</td>
            <td class="num">{message.deliveryCount}</td>
            <td class="clip">{message.lastError ?? "—"}</td>
            <td class="clip mono">{preview(message.body)}</td>
          </tr>
        ))}
      </PagedTable>
    </section>
  );
}

/** A redrive's answer in words; a large one goes on as a background task. */
const redriven = (outcome: RedriveView) =>
  `Returned ${plural(outcome.redriven, "message")} to the queue` +
  (outcome.remaining > 0 ? `; ${outcome.remaining} more continue in the background` : "");
