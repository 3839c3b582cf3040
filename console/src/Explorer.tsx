import { Fragment } from "preact";
import { useState } from "preact/hooks";
import type { BrowseRequest, ConveyorClient } from "../../src/client/index.js";
import { MessageId, PagedTable, Tabs, useCursorPages } from "./components.js";
import { formatTime, preview, REFRESH_MS, usePolling } from "./lib.js";

type View = NonNullable<BrowseRequest["view"]>;
const VIEWS: [View, string][] = [
  ["available", "Available"],
  ["delayed", "Delayed"],
  ["inFlight", "In flight"],
];

/** The filter's fields: an attribute's name, and the value it must equal (any, when empty). */
const FILTER_FIELDS = [
  ["attribute", "Attribute", "type"],
  ["value", "equals", "any value"],
] as const;

/** The message explorer: messages available, delayed or in flight (with their leases), by attribute; nothing is leased. */
export function Explorer(props: {
  client: ConveyorClient;
  name: string;
  onPeek: (messageId: string) => void;
}) {
  const { client, name } = props;
  const [view, setView] = useState<View>("available");
  const [filter, setFilter] = useState({ attribute: "", value: "" });
  const [applied, setApplied] = useState(filter);
  const pages = useCursorPages();
  const { cursor } = pages;
  const page = usePolling(
    () =>
      client.browse(name, {
        view,
        limit: 20,
        cursor,
        ...(applied.attribute ? { attribute: applied.attribute } : {}),
        ...(applied.attribute && applied.value ? { value: applied.value } : {}),
      }),
    REFRESH_MS * 2,
    [client, name, view, cursor, applied],
  );
  const messages = page.value?.messages ?? [];
  return (
    <section class="card" aria-labelledby="explorer-title">
      <div class="section-head">
        <h2 id="explorer-title">Messages</h2>
        <Tabs
          options={VIEWS}
          selected={view}
          name="view"
          onSelect={(key) => {
            setView(key);
            pages.restart();
          }}
        />
      </div>
      <form
        class="inline"
        onSubmit={(event) => {
          event.preventDefault();
          setApplied(filter);
          pages.restart();
        }}
      >
        {FILTER_FIELDS.map(([key, label, placeholder]) => (
          <Fragment key={key}>
            <label for={`filter-${key}`}>{label}</label>
            <input
              id={`filter-${key}`}
              value={filter[key]}
              onInput={(e) => setFilter({ ...filter, [key]: e.currentTarget.value })}
              placeholder={placeholder}
            />
          </Fragment>
        ))}
        <button type="submit">Filter</button>
      </form>
      <PagedTable
        state={page}
        loading="Loading messages…"
        isEmpty={messages.length === 0}
        empty={<>No {VIEWS.find(([key]) => key === view)?.[1].toLowerCase()} messages on this page.</>}
        pages={pages}
        nextCursor={page.value?.nextCursor}
        attributes={{ "data-explorer": view }}
        head={
          <>
            <th scope="col">Message</th>
            <th scope="col">Enqueued</th>
            <th scope="col">{view === "inFlight" ? "Lease expires" : "Visible at"}</th>
            <th scope="col" class="num">
              Deliveries
            </th>
            <th scope="col">Attributes</th>
            <th scope="col">Body</th>
          </>
        }
      >
        {messages.map((message) => (
          <tr key={message.messageId} data-message={message.messageId}>
            <td>
              <MessageId id={message.messageId} onOpen={() => props.onPeek(message.messageId)} />
            </td>
            <td>{formatTime(message.enqueuedAt)}</td>
            <td data-field={view === "inFlight" ? "leaseExpiresAt" : "visibleAt"}>
              {formatTime(view === "inFlight" ? message.leaseExpiresAt : message.visibleAt)}
            </td>
            <td class="num" data-field="deliveryCount">
              {message.deliveryCount}
            </td>
            <td class="clip mono">{preview(message.attributes)}</td>
            <td class="clip mono">{preview(message.body)}</td>
          </tr>
        ))}
      </PagedTable>
    </section>
  );
}
