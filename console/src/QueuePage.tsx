import { useEffect, useState } from "preact/hooks";
import {
  ConveyorApiError,
  type ConveyorClient,
  type QueueStatsView,
  type QueueView,
} from "../../src/client/index.js";
import { Chart } from "./Chart.js";
import { Peek } from "./components.js";
import { DeadLetters } from "./DeadLetters.js";
import { Explorer } from "./Explorer.js";
import { formatAge, REFRESH_MS, useLiveEvents, usePolling } from "./lib.js";
import { PeekById, SendMessage, Settings } from "./QueueForms.js";

export function QueuePage({ client, name }: { client: ConveyorClient; name: string }) {
  const queue = usePolling(() => client.getQueue(name), REFRESH_MS, [client, name]);
  const [peeked, setPeeked] = useState<string | undefined>();
  const [dlqVersion, setDlqVersion] = useState(0);
  // A stats event carries the stats: shown as they come, with no fetch of its own.
  const [live, setLive] = useState<QueueStatsView | undefined>();
  // A newer poll supersedes the last event's stats.
  useEffect(() => setLive(undefined), [queue.value]);
  useLiveEvents(client, name, (type, data) => {
    if (type === "queue.stats") setLive(data as QueueStatsView);
    if (type === "message.dead_lettered") setDlqVersion((version) => version + 1);
  });
  if (queue.loading) return <p class="muted">Loading {name}…</p>;
  if (!queue.value) {
    const missing = queue.failure instanceof ConveyorApiError && queue.failure.status === 404;
    return (
      <section class="card" data-state={missing ? "unknown-queue" : "failed"}>
        <h1>{missing ? `No queue named ${name}` : `${name} could not be loaded`}</h1>
        <p class={missing ? "" : "error"} role={missing ? undefined : "alert"}>
          {missing ? "It may have been deleted, or it belongs to another tenant." : queue.error}
        </p>
        <p>
          <a href="#/">← All queues</a>
        </p>
      </section>
    );
  }
  const { stats: polled, grants, ...settings } = queue.value;
  const stats = live ?? polled;
  const may = new Set(grants);
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
      <Chart client={client} name={name} />
      <div class="columns">
        <SendMessage
          client={client}
          name={name}
          allowed={may.has("send")}
          onSent={() => void queue.reload()}
        />
        <Settings
          client={client}
          queue={settings as QueueView}
          allowed={may.has("manage")}
          onSaved={() => void queue.reload()}
        />
      </div>
      <PeekById onPeek={setPeeked} />
      <Explorer client={client} name={name} onPeek={setPeeked} />
      <DeadLetters
        client={client}
        name={name}
        version={dlqVersion}
        canManage={may.has("manage")}
        onPeek={setPeeked}
        onChanged={() => void queue.reload()}
      />
      {peeked && <Peek client={client} name={name} messageId={peeked} onClose={() => setPeeked(undefined)} />}
    </section>
  );
}
