import { useRef, useState } from "preact/hooks";
import type { ConveyorClient, QueueStatsView, QueueView } from "../../src/client/index.js";
import { CreateByName, ListPage, Table } from "./components.js";
import { formatAge, formatRate, REFRESH_MS, usePolling } from "./lib.js";

interface QueueRow {
  queue: QueueView;
  stats: QueueStatsView;
  enqueueRate?: number;
  ackRate?: number;
}

export function QueuesPage({ client }: { client: ConveyorClient }) {
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
    <ListPage
      kind="queues"
      title="Queues"
      createForm={<CreateQueue client={client} onCreated={() => void rows.reload()} />}
      state={rows}
      isEmpty={rows.value?.length === 0}
    >
      <Table
        head={
          <>
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
          </>
        }
      >
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
      </Table>
    </ListPage>
  );
}

function CreateQueue({ client, onCreated }: { client: ConveyorClient; onCreated: () => void }) {
  const [fifo, setFifo] = useState(false);
  return (
    <CreateByName
      id="new-queue"
      label="New queue"
      placeholder="orders"
      create={async (name) => {
        await client.createQueue({ name, ordering: fifo ? "fifo" : "standard" });
        onCreated();
      }}
    >
      <label class="check">
        <input type="checkbox" checked={fifo} onChange={(e) => setFifo(e.currentTarget.checked)} /> fifo
      </label>
    </CreateByName>
  );
}
