import { useState } from "preact/hooks";
import type { ConveyorClient } from "../../src/client/index.js";
import { Polled, Status, Table } from "./components.js";
import { describeError, REFRESH_MS, usePolling } from "./lib.js";

/** The topics of the tenant, and a form to create one. */
export function TopicsPage({ client }: { client: ConveyorClient }) {
  const topics = usePolling(async () => (await client.topics.list({ limit: 1000 })).items, REFRESH_MS, [
    client,
  ]);
  const [name, setName] = useState("");
  const [status, setStatus] = useState<{ error?: string; done?: string }>({});
  return (
    <section aria-labelledby="topics-title">
      <div class="section-head">
        <h1 id="topics-title">Topics</h1>
        <form
          class="inline"
          onSubmit={async (event) => {
            event.preventDefault();
            try {
              await client.topics.create({ name });
              setStatus({ done: `Created ${name}` });
              setName("");
              void topics.reload();
            } catch (error) {
              setStatus({ error: describeError(error) });
            }
          }}
        >
          <label for="new-topic">New topic</label>
          <input
            id="new-topic"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            placeholder="events"
            required
          />
          <button type="submit">Create</button>
        </form>
      </div>
      <Status {...status} />
      <Polled
        state={topics}
        loading="Loading topics…"
        isEmpty={topics.value?.length === 0}
        empty={
          <>
            No topics yet. Create one above, or with <code>conveyor topics create</code>.
          </>
        }
      >
        <ul class="plain">
          {topics.value?.map((topic) => (
            <li key={topic.name} data-topic={topic.name}>
              <a href={`#/topics/${encodeURIComponent(topic.name)}`}>{topic.name}</a>
            </li>
          ))}
        </ul>
      </Polled>
    </section>
  );
}

/** One topic: its counts, its subscriptions with their filters and counts, subscribe, unsubscribe, publish a test message. */
export function TopicPage({ client, name }: { client: ConveyorClient; name: string }) {
  const topic = usePolling(() => client.topics.get(name), REFRESH_MS, [client, name]);
  const [status, setStatus] = useState<{ error?: string; done?: string }>({});
  const act = async (work: () => Promise<string>) => {
    try {
      setStatus({ done: await work() });
      void topic.reload();
    } catch (error) {
      setStatus({ error: describeError(error) });
    }
  };
  if (topic.loading) return <p class="muted">Loading {name}…</p>;
  if (!topic.value) {
    return (
      <p class="error" role="alert">
        {topic.error}
      </p>
    );
  }
  const { stats, subscriptions } = topic.value;
  return (
    <section aria-labelledby="topic-title">
      <p>
        <a href="#/topics">All topics</a>
      </p>
      <h1 id="topic-title">{name}</h1>
      <dl class="stats">
        {(
          [
            ["Published", "publishedTotal", stats.publishedTotal],
            ["Delivered copies", "deliveredTotal", stats.deliveredTotal],
            ["Filtered out", "filteredTotal", stats.filteredTotal],
          ] as const
        ).map(([label, key, value]) => (
          <div key={key}>
            <dt>{label}</dt>
            <dd data-stat={key}>{value}</dd>
          </div>
        ))}
      </dl>
      <Status {...status} />
      <h2>Subscriptions</h2>
      {subscriptions.length === 0 ? (
        <p class="empty">No subscriptions: a published message reaches no queue.</p>
      ) : (
        <Table
          head={
            <>
              <th scope="col">Subscription</th>
              <th scope="col">Queue</th>
              <th scope="col">Filter</th>
              <th scope="col" class="num">
                Delivered
              </th>
              <th scope="col" class="num">
                Undeliverable
              </th>
              <th scope="col">Last error</th>
              <th scope="col" />
            </>
          }
        >
          {subscriptions.map((sub) => (
            <tr key={sub.name} data-subscription={sub.name}>
              <th scope="row">{sub.name}</th>
              <td>
                <a href={`#/queues/${encodeURIComponent(sub.queue)}`}>{sub.queue}</a>
              </td>
              <td>
                <code>{sub.filter === null ? "every message" : JSON.stringify(sub.filter)}</code>
              </td>
              <td class="num" data-stat="deliveredTotal">
                {sub.stats.deliveredTotal}
              </td>
              <td
                class={`num${sub.stats.undeliverableTotal > 0 ? " warn" : ""}`}
                data-stat="undeliverableTotal"
              >
                {sub.stats.undeliverableTotal}
              </td>
              <td>{sub.stats.lastError ?? "—"}</td>
              <td>
                <button
                  type="button"
                  class="link"
                  onClick={() =>
                    act(async () => {
                      await client.topics.unsubscribe(name, sub.name);
                      return `Removed ${sub.name}`;
                    })
                  }
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </Table>
      )}
      <Subscribe
        onSubmit={(sub, queue, filter) =>
          act(async () => {
            const made = await client.topics.subscribe(name, sub, {
              queue,
              ...(filter ? { filter: JSON.parse(filter) } : {}),
            });
            return `${made.created ? "Subscribed" : "Replaced"} ${sub}`;
          })
        }
      />
      <Publish
        onSubmit={(body, attributes) =>
          act(async () => {
            const published = await client.topics.publish(name, {
              body: parseLoose(body),
              ...(attributes ? { attributes: JSON.parse(attributes) as Record<string, string> } : {}),
            });
            return `Published to ${published.subscriptions} subscription${published.subscriptions === 1 ? "" : "s"}`;
          })
        }
      />
    </section>
  );
}

/** JSON when it parses, text otherwise: as the CLI sends bodies. */
const parseLoose = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

function Subscribe({
  onSubmit,
}: {
  onSubmit: (name: string, queue: string, filter: string) => Promise<void>;
}) {
  const [name, setName] = useState("");
  const [queue, setQueue] = useState("");
  const [filter, setFilter] = useState("");
  return (
    <form
      class="stacked"
      aria-label="Subscribe a queue"
      onSubmit={(event) => {
        event.preventDefault();
        void onSubmit(name, queue, filter.trim());
      }}
    >
      <h2>Subscribe a queue</h2>
      <label for="sub-name">Name</label>
      <input id="sub-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      <label for="sub-queue">Queue</label>
      <input id="sub-queue" value={queue} onInput={(e) => setQueue(e.currentTarget.value)} required />
      <label for="sub-filter">Filter (JSON, empty for every message)</label>
      <textarea
        id="sub-filter"
        value={filter}
        onInput={(e) => setFilter(e.currentTarget.value)}
        placeholder='{"attributes": {"type": ["order.created"]}}'
      />
      <button type="submit">Subscribe</button>
    </form>
  );
}

function Publish({ onSubmit }: { onSubmit: (body: string, attributes: string) => Promise<void> }) {
  const [body, setBody] = useState("");
  const [attributes, setAttributes] = useState("");
  return (
    <form
      class="stacked"
      aria-label="Publish a test message"
      onSubmit={(event) => {
        event.preventDefault();
        void onSubmit(body, attributes.trim());
      }}
    >
      <h2>Publish a test message</h2>
      <label for="pub-body">Body</label>
      <textarea id="pub-body" value={body} onInput={(e) => setBody(e.currentTarget.value)} required />
      <label for="pub-attributes">Attributes (JSON object)</label>
      <input
        id="pub-attributes"
        value={attributes}
        onInput={(e) => setAttributes(e.currentTarget.value)}
        placeholder='{"type": "order.created"}'
      />
      <button type="submit">Publish</button>
    </form>
  );
}
