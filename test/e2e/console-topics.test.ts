import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";
import { requireBuild } from "../process.js";

/** The console's topics page in headless Chromium, as test/e2e/console.test.ts drives the queue pages. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);

let host: TestHost;
let client: ConveyorClient;
let browser: Browser;
let page: Page;

describe.skipIf(!available)("the console's topics page", () => {
  beforeAll(async () => {
    requireBuild();
    host = await startTestHost();
    const token = await host.token("console-topics", { roles: ["admin"] });
    client = host.client(token);
    await client.createQueue({ name: "billing" });
    await client.createQueue({ name: "audit" });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    page = await browser.newPage();
    await page.goto(`${host.url}/`);
    await page.fill("#token", token);
    await page.click("text=Open the console");
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await host?.close();
  });

  it("creates a topic, subscribes queues with and without a filter, publishes, and shows the counts", async () => {
    await page.click("nav >> text=Topics");
    await page.waitForSelector("text=No topics yet");
    await page.fill("#new-topic", "orders");
    await page.click("button:has-text('Create')");
    await page.click('a[href="#/topics/orders"]');
    await page.waitForSelector("#topic-title");

    await page.fill("#sub-name", "billing");
    await page.fill("#sub-queue", "billing");
    await page.fill("#sub-filter", '{"attributes": {"type": ["order.created"]}}');
    await page.click("button:has-text('Subscribe')");
    await page.waitForSelector('tr[data-subscription="billing"]');
    await page.fill("#sub-name", "audit");
    await page.fill("#sub-queue", "audit");
    await page.fill("#sub-filter", "");
    await page.click("button:has-text('Subscribe')");
    await page.waitForSelector('tr[data-subscription="audit"]');

    await page.fill("#pub-body", '{"order": 1}');
    await page.fill("#pub-attributes", '{"type": "order.created"}');
    await page.click("button:has-text('Publish')");
    await page.waitForSelector("text=Published to 2 subscriptions");
    await page.fill("#pub-attributes", "");
    await page.click("button:has-text('Publish')");
    await page.waitForSelector("text=Published to 1 subscription");

    const cell = (sub: string, stat: string) =>
      page.locator(`tr[data-subscription="${sub}"] [data-stat="${stat}"]`).textContent();
    await expect.poll(() => cell("billing", "deliveredTotal")).toBe("1");
    await expect.poll(() => cell("audit", "deliveredTotal")).toBe("2");
    await expect.poll(() => page.locator('dd[data-stat="filteredTotal"]').textContent()).toBe("1");
    expect(await page.locator('tr[data-subscription="billing"]').textContent()).toContain("order.created");
    expect((await client.receive("audit", { max: 10 })).map((m) => m.body)).toEqual([
      { order: 1 },
      { order: 1 },
    ]);

    await page.click('tr[data-subscription="billing"] >> text=Remove');
    await page.waitForSelector("text=Removed billing");
    await expect.poll(() => page.locator('tr[data-subscription="billing"]').count()).toBe(0);
    expect((await client.topics.subscriptions("orders")).map((sub) => sub.name)).toEqual(["audit"]);
  });
});
