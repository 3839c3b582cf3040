// A short receive + settle measurement against a running local host, until
// `npm run bench` exists: N workers each loop "receive up to 10, settle them"
// for a fixed time and the script prints messages settled per second.
// Usage: node bench/receive-settle.mjs <baseUrl> <token> <queue> [workers=16] [seconds=8] [mode=settle|ack]
const [baseUrl, token, queue, workers = "16", seconds = "8", mode = "settle"] = process.argv.slice(2);
if (!baseUrl || !token || !queue) {
  console.error(
    "usage: node bench/receive-settle.mjs <baseUrl> <token> <queue> [workers] [seconds] [settle|ack]",
  );
  process.exit(2);
}
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
const deadline = Date.now() + Number(seconds) * 1000;
let settled = 0;
let failures = 0;

async function worker() {
  while (Date.now() < deadline) {
    const response = await fetch(`${baseUrl}/v1/queues/${queue}/messages?max=10`, { headers });
    const { messages } = await response.json();
    if (messages.length === 0) break;
    if (mode === "ack") {
      await Promise.all(
        messages.map(async (m) => {
          const ack = await fetch(`${baseUrl}/v1/queues/${queue}/messages/${m.messageId}/ack`, {
            method: "POST",
            headers,
            body: JSON.stringify({ leaseToken: m.leaseToken }),
          });
          if (ack.status === 204) settled++;
          else failures++;
        }),
      );
    } else {
      const acks = messages.map((m) => ({ messageId: m.messageId, leaseToken: m.leaseToken }));
      const result = await fetch(`${baseUrl}/v1/queues/${queue}/messages/settle`, {
        method: "POST",
        headers,
        body: JSON.stringify({ acks }),
      });
      const { results } = await result.json();
      for (const item of results) item.status === 204 ? settled++ : failures++;
    }
  }
}

const started = Date.now();
await Promise.all(Array.from({ length: Number(workers) }, worker));
const elapsed = (Date.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({
    mode,
    workers: Number(workers),
    settled,
    failures,
    seconds: elapsed,
    perSecond: Math.round(settled / elapsed),
  })}\n`,
);
