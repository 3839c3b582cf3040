import { Fragment } from "preact";
import { useState } from "preact/hooks";
import type { ConveyorClient } from "../../src/client/index.js";
import { CreateByName, ListPage, Status, Table } from "./components.js";
import { REFRESH_MS, useOutcome, usePolling } from "./lib.js";

/** The topics of the tenant, and a form to create one. */
export function TopicsPage({ client }: { client: ConveyorClient }) {
  const topics = usePolling(async () => (await client.topics.list({ limit: 1000 })).items, REFRESH_MS, [
    client,
  ]);
  return (
    <ListPage
      kind="topics"
      title="Topics"
      createForm={
        <CreateByName
          id="new-topic"
          label="New topic"
          placeholder="events"
          create={async (name) => {
            await client.topics.create({ name });
            void topics.reload();
          }}
        />
      }
      state={topics}
      isEmpty={topics.value?.length === 0}
    >
      <ul class="plain">
        {topics.value?.map((topic) => (
          <li key={topic.name} data-topic={topic.name}>
            <a href={`#/topics/${encodeURIComponent(topic.name)}`}>{topic.name}</a>
          </li>
        ))}
      </ul>
    </ListPage>
  );
}

/** One topic: its counts, its subscriptions with their filters and counts, subscribe, unsubscribe, publish a test message. */
export function TopicPage({ client, name }: { client: ConveyorClient; name: string }) {
  const topic = usePolling(() => client.topics.get(name), REFRESH_MS, [client, name]);
  const { outcome, run } = useOutcome();
  const act = async (work: () => Promise<string>) => {
    if (await run(work)) void topic.reload();
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
      <Status {...outcome} />
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
      <StackedForm
        title="Subscribe a queue"
        submit="Subscribe"
        fields={SUBSCRIBE_FIELDS}
        onSubmit={([sub = "", queue = "", filter = ""]) =>
          act(async () => {
            const made = await client.topics.subscribe(name, sub, {
              queue,
              ...(filter.trim() ? { filter: JSON.parse(filter) } : {}),
            });
            return `${made.created ? "Subscribed" : "Replaced"} ${sub}`;
          })
        }
      />
      <StackedForm
        title="Publish a test message"
        submit="Publish"
        fields={PUBLISH_FIELDS}
        onSubmit={([body = "", attributes = ""]) =>
          act(async () => {
            const published = await client.topics.publish(name, {
              body: parseLoose(body),
              ...(attributes.trim() ? { attributes: JSON.parse(attributes) as Record<string, string> } : {}),
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

/** One field of a `StackedForm`: its control's id and label; a textarea where `multiline`. */
interface Field {
  id: string;
  label: string;
  multiline?: boolean;
  required?: boolean;
  placeholder?: string;
}

const SUBSCRIBE_FIELDS: Field[] = [
  { id: "sub-name", label: "Name", required: true },
  { id: "sub-queue", label: "Queue", required: true },
  {
    id: "sub-filter",
    label: "Filter (JSON, empty for every message)",
    multiline: true,
    placeholder: '{"attributes": {"type": ["order.created"]}}',
  },
];

const PUBLISH_FIELDS: Field[] = [
  { id: "pub-body", label: "Body", multiline: true, required: true },
  { id: "pub-attributes", label: "Attributes (JSON object)", placeholder: '{"type": "order.created"}' },
];

/** A form under its own heading, which names it; `onSubmit` gets the fields' values, in their order. */
function StackedForm(props: {
  title: string;
  submit: string;
  fields: Field[];
  onSubmit: (values: string[]) => void;
}) {
  const [values, setValues] = useState(() => props.fields.map(() => ""));
  return (
    <form
      class="stacked"
      aria-label={props.title}
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit(values);
      }}
    >
      <h2>{props.title}</h2>
      {props.fields.map(({ id, label, multiline, required, placeholder }, index) => {
        const control = {
          id,
          value: values[index],
          onInput: (event: { currentTarget: { value: string } }) =>
            setValues(values.map((value, at) => (at === index ? event.currentTarget.value : value))),
          required,
          placeholder,
        };
        return (
          <Fragment key={id}>
            <label for={id}>{label}</label>
            {multiline ? <textarea {...control} /> : <input {...control} />}
          </Fragment>
        );
      })}
      <button type="submit">{props.submit}</button>
    </form>
  );
}
