import { describe, expect, it } from "vitest";
import { copyDedupKey, copyDraft, copyId } from "../../src/domain/topic.js";
import { aQueue, at, T0 } from "../fixtures.js";

const MESSAGE_ID = "019a1b2c-3d4e-7f00-8000-000000000001";
const message = {
  id: MESSAGE_ID,
  publishedAt: T0,
  body: '{"order":1}',
  attributes: { type: "order.created" },
  delaySeconds: 60,
};
const copy = { subscriptionId: "s_1", subscriptionName: "billing", queueId: "q_1" };

describe("a topic message's copy", () => {
  it("has an id derived from the message and the subscription, keeping the message's time prefix", () => {
    const id = copyId(MESSAGE_ID, "s_1");
    expect(id).toBe(copyId(MESSAGE_ID, "s_1"));
    expect(id).not.toBe(copyId(MESSAGE_ID, "s_2"));
    expect(id).not.toBe(copyId("019a1b2c-3d4e-7f00-8000-000000000002", "s_1"));
    expect(id).toMatch(/^019a1b2c-3d4e-8[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(copyDedupKey(MESSAGE_ID, "s_1")).toBe(`topic:${MESSAGE_ID}:s_1`);
  });

  it("keeps body and attributes, adds the topic's, and is delayed only by what is left of the delay", () => {
    const draft = copyDraft({ name: "orders" }, message, copy, aQueue(), at(20));
    if (!draft.ok) throw new Error(draft.error.detail);
    expect(draft.value).toMatchObject({
      id: copyId(MESSAGE_ID, "s_1"),
      body: '{"order":1}',
      attributes: {
        type: "order.created",
        "conveyor-topic": "orders",
        "conveyor-topic-message-id": MESSAGE_ID,
      },
      dedupKey: copyDedupKey(MESSAGE_ID, "s_1"),
      enqueuedAt: at(20),
      visibleAt: at(60),
    });
    const late = copyDraft({ name: "orders" }, message, copy, aQueue(), at(90));
    expect(late.ok && late.value.visibleAt).toEqual(at(90));
  });

  it("is refused by the queue as an enqueue would be: too big, or a priority on a fifo queue", () => {
    const big = copyDraft({ name: "t" }, message, copy, aQueue({ maxMessageBytes: 5 }), T0);
    expect(!big.ok && big.error.code).toBe("payload_too_large");
    const fifo = aQueue({ ordering: "fifo" });
    const prioritized = copyDraft({ name: "t" }, { ...message, priority: 3 }, copy, fifo, T0);
    expect(!prioritized.ok && prioritized.error.code).toBe("validation_failed");
    const grouped = copyDraft({ name: "t" }, { ...message, groupId: "g" }, copy, fifo, T0);
    expect(grouped.ok && grouped.value.groupId).toBe("g");
  });
});
