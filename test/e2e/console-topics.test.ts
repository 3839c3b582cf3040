import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConsoleSession, chromiumAvailable, fillAndPress, startConsole } from "./console-session.js";

/** The console's topics page in headless Chromium, as test/e2e/console.test.ts drives the queue pages. */
let ui: ConsoleSession;
let page: Page;

describe.skipIf(!chromiumAvailable)("the console's topics page", () => {
  beforeAll(async () => {
    ui = await startConsole("console-topics");
    await ui.client.createQueue({ name: "billing" });
    await ui.client.createQueue({ name: "audit" });
    page = await ui.signedIn("/");
  }, 60_000);
  afterAll(() => ui?.close());

  it("creates a topic, subscribes queues with and without a filter, publishes, and shows the counts", async () => {
    await page.click("nav >> text=Topics");
    await page.waitForSelector("text=No topics yet");
    await fillAndPress(page, { "#new-topic": "orders" }, "Create");
    await page.click('a[href="#/topics/orders"]');
    await page.waitForSelector("#topic-title");

    const subscribe = (name: string, filter: string) =>
      fillAndPress(page, { "#sub-name": name, "#sub-queue": name, "#sub-filter": filter }, "Subscribe");
    await subscribe("billing", '{"attributes": {"type": ["order.created"]}}');
    await page.waitForSelector('tr[data-subscription="billing"]');
    await subscribe("audit", "");
    await page.waitForSelector('tr[data-subscription="audit"]');

    await fillAndPress(
      page,
      { "#pub-body": '{"order": 1}', "#pub-attributes": '{"type": "order.created"}' },
      "Publish",
    );
    await page.waitForSelector("text=Published to 2 subscriptions");
    await fillAndPress(page, { "#pub-attributes": "" }, "Publish");
    await page.waitForSelector("text=Published to 1 subscription");

    const cell = (sub: string, stat: string) =>
      page.locator(`tr[data-subscription="${sub}"] [data-stat="${stat}"]`).textContent();
    await expect.poll(() => cell("billing", "deliveredTotal")).toBe("1");
    await expect.poll(() => cell("audit", "deliveredTotal")).toBe("2");
    await expect.poll(() => page.locator('dd[data-stat="filteredTotal"]').textContent()).toBe("1");
    expect(await page.locator('tr[data-subscription="billing"]').textContent()).toContain("order.created");
    expect((await ui.client.receive("audit", { max: 10 })).map((m) => m.body)).toEqual([
      { order: 1 },
      { order: 1 },
    ]);

    await page.click('tr[data-subscription="billing"] >> text=Remove');
    await page.waitForSelector("text=Removed billing");
    await expect.poll(() => page.locator('tr[data-subscription="billing"]').count()).toBe(0);
    expect((await ui.client.topics.subscriptions("orders")).map((sub) => sub.name)).toEqual(["audit"]);
  });
});
