import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../process.js";
import {
  CHROMIUM,
  type ConsoleSession,
  chromiumAvailable,
  fillAndPress,
  startConsole,
} from "./console-session.js";

/** The web console against the real local host (see ./console-session.ts). Screenshots go to test-artifacts/console/. */
const SHOTS = join(ROOT, "test-artifacts", "console");
if (!chromiumAvailable)
  process.stdout.write(`\nconsole tests skipped: no Chromium at ${CHROMIUM} (npm run setup:browser)\n`);

let ui: ConsoleSession;
let page: Page;

describe.skipIf(!chromiumAvailable)("the web console", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    ui = await startConsole("console-tenant");
    page = await ui.browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 60_000);
  afterAll(() => ui?.close());

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const stat = (label: string) => page.locator(`dd[data-stat="${label}"]`);

  it("refuses a bad credential at sign-in, with the server's reason, and stays there", async () => {
    await page.goto(`${ui.host.url}/`);
    await page.fill("#token", "not-a-real-token");
    await page.click("text=Open the console");
    await expect
      .poll(() => page.locator('[data-reason="refused"]').textContent())
      .toMatch(/^Not accepted: the bearer token was rejected/);
    expect(await page.locator("#token").isVisible()).toBe(true);
    expect(await page.locator("text=Sign out").count()).toBe(0);
    await shot("00-refused");
  });

  it("signs in, shows the empty state, and creates a queue", async () => {
    await page.fill("#token", ui.token);
    await page.click("text=Open the console");
    await page.waitForSelector("text=No queues yet");
    await shot("01-empty");
    await fillAndPress(page, { "#new-queue": "orders" }, "Create");
    await page.waitForSelector('tr[data-queue="orders"]');
    await shot("02-queues");
  });

  it("opens a queue with the keyboard, sends a test message and watches the counters move", async () => {
    await page.focus('a[href="#/queues/orders"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector("#queue-title");
    await expect.poll(() => stat("Available").textContent()).toBe("0");
    await fillAndPress(page, { "#send-body": '{"orderId": 1001}' }, "Send");
    await page.waitForSelector("text=/Sent [0-9a-f-]{36}/");
    await expect.poll(() => stat("Available").textContent(), { timeout: 10_000 }).toBe("1");
    await expect.poll(() => stat("Enqueued").textContent()).toBe("1");
  });

  it("charts the history the server keeps, with the numbers the API gives, across a reload", async () => {
    await ui.client.createQueue({ name: "charted" });
    await ui.client.sendBatch(
      "charted",
      Array.from({ length: 10 }, (_, n) => ({ body: n })),
    );
    const sampled = async (count: number) => {
      await expect
        .poll(async () => (await ui.client.metrics("charted")).points.length, { timeout: 10_000 })
        .toBeGreaterThan(count);
    };
    await sampled(1);
    ui.host.clock.advance(12);
    const leased = await ui.client.receive("charted", { max: 4 });
    await ui.client.settle("charted", {
      acks: leased.map(({ messageId, leaseToken }) => ({ messageId, leaseToken })),
    });
    await sampled(2);
    ui.host.clock.advance(12);
    await ui.client.send("charted", { body: "one more" });
    await sampled(3);
    const points = (await ui.client.metrics("charted")).points;
    const [before, after] = points.slice(-3, -1);
    const span = (Date.parse(after?.at ?? "") - Date.parse(before?.at ?? "")) / 1000;
    const expectedRate = ((after?.ackedTotal ?? 0) - (before?.ackedTotal ?? 0)) / span;
    expect(expectedRate).toBeGreaterThan(0);

    // Two viewers, each loading the page afresh: both draw the history the server kept.
    for (const viewer of ["first", "second"]) {
      const view = await ui.signedIn("/#/queues/charted");
      const chart = view.locator("figure.chart");
      await expect
        .poll(() => chart.getAttribute("data-points"), { timeout: 10_000 })
        .toBe(String(points.length));
      expect(await chart.getAttribute("data-latest-available")).toBe(
        String((await ui.client.stats("charted")).available),
      );
      expect([viewer, Number(await chart.getAttribute("data-latest-ack-rate"))]).toEqual([
        viewer,
        expect.closeTo(expectedRate, 5),
      ]);
      expect(await chart.locator(".u-axis").count()).toBeGreaterThanOrEqual(3);
      expect(await chart.locator(".u-legend").textContent()).toMatch(/Available.*Acked\/s/);
      await view.screenshot({ path: join(SHOTS, `02b-chart-${viewer}.png`), fullPage: true });
      await view.close();
    }
  });

  it("shows a dead-lettered message, peeks at it, and redrives it from the console", async () => {
    const [message] = await ui.client.receive("orders");
    await ui.client.nack("orders", message?.messageId ?? "", message?.leaseToken ?? "", {
      deadLetter: true,
      error: "address missing",
    });
    // The dead-letter queue's row: the explorer above may still list the message from its last refresh.
    const row = page.locator(`section[aria-labelledby="dlq-title"] tr[data-message="${message?.messageId}"]`);
    // Sooner than the 4 s dead-letter polling: the page follows the queue's live events.
    await row.waitFor({ timeout: 2500 });
    expect(await row.textContent()).toContain("address missing");
    // Ids are told apart by their end, and each row says when it was dead-lettered.
    expect(await row.locator(".message-id .mono").textContent()).toBe(`…${message?.messageId.slice(-12)}`);
    expect(await row.locator('[data-field="deadLetteredAt"]').textContent()).not.toBe("—");
    await expect.poll(() => stat("Dead-lettered").textContent(), { timeout: 10_000 }).toBe("1");
    await shot("03-dead-letter");

    await row.locator("button.link").click();
    await page.waitForSelector('dialog[open] dd[data-field="state"]');
    expect(await page.locator('dialog[open] dd[data-field="state"]').textContent()).toBe("dead");
    expect(await page.locator('dialog[open] pre[data-field="body"]').textContent()).toContain(
      '"orderId": 1001',
    );
    await shot("04-peek");
    await page.keyboard.press("Escape");
    await page.waitForSelector("dialog[open]", { state: "detached" });

    await row.locator("input[type=checkbox]").check();
    await page.click("button:has-text('Redrive selected (1)')");
    await page.waitForSelector("text=Returned 1 message to the queue");
    await page.waitForSelector("text=No dead letters.");
    await expect.poll(() => stat("Available").textContent(), { timeout: 10_000 }).toBe("1");
    await shot("05-redriven");
  });

  it("peeks at any message by its id", async () => {
    const sent = await ui.client.send("orders", { body: { peek: "me" }, attributes: { kind: "probe" } });
    await fillAndPress(page, { "#peek-id": sent.messageId }, "Peek");
    await page.waitForSelector('dialog[open] dd[data-field="state"]');
    expect(await page.locator('dialog[open] dd[data-field="state"]').textContent()).toBe("available");
    expect(await page.locator('dialog[open] pre[data-field="body"]').textContent()).toContain('"peek": "me"');
    expect(await page.locator("dialog[open]").textContent()).toContain('"kind": "probe"');
    await page.keyboard.press("Escape");
    const [taken] = await ui.client.receive("orders", { max: 10 });
    const all = [taken, ...(await ui.client.receive("orders", { max: 10 }))];
    await ui.client.settle("orders", {
      acks: all
        .filter((m) => m?.messageId === sent.messageId)
        .map((m) => ({ messageId: m?.messageId ?? "", leaseToken: m?.leaseToken ?? "" })),
      nacks: all
        .filter((m) => m && m.messageId !== sent.messageId)
        .map((m) => ({ messageId: m?.messageId ?? "", leaseToken: m?.leaseToken ?? "", delaySeconds: 0 })),
    });
  });

  it("purges the dead-letter queue only after a confirmation", async () => {
    const [message] = await ui.client.receive("orders");
    await ui.client.nack("orders", message?.messageId ?? "", message?.leaseToken ?? "", { deadLetter: true });
    await page
      .locator(`section[aria-labelledby="dlq-title"] tr[data-message="${message?.messageId}"]`)
      .waitFor({ timeout: 10_000 });
    await page.click("button.danger:has-text('Purge')");
    await page.waitForSelector("[role=alertdialog]");
    await shot("06-confirm-purge");
    await page.click("button:has-text('Cancel')");
    expect((await ui.client.stats("orders")).deadLettered).toBe(1);
    await page.click("button.danger:has-text('Purge')");
    await page.click("button:has-text('Yes, purge')");
    await page.waitForSelector("text=Deleted 1 dead letter");
    expect((await ui.client.stats("orders")).deadLettered).toBe(0);
  });

  it("lists in-flight messages with their lease expiry and delivery count in the explorer", async () => {
    const sent = await ui.client.send("orders", {
      body: { explore: true },
      attributes: { kind: "explored" },
    });
    const leased = await ui.client.receive("orders", { max: 10, visibilityTimeout: 600 });
    const mine = leased.find((message) => message.messageId === sent.messageId);
    expect(mine).toBeDefined();
    await page.click('button[data-view="inFlight"]');
    const row = page.locator(`table[data-explorer="inFlight"] tr[data-message="${sent.messageId}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator('[data-field="deliveryCount"]').textContent()).toBe("1");
    const expiry = await row.locator('[data-field="leaseExpiresAt"]').textContent();
    expect(new Date(expiry ?? "").getTime()).toBeCloseTo(Date.parse(mine?.leaseExpiresAt ?? ""), -4);
    await fillAndPress(page, { "#filter-attribute": "kind", "#filter-value": "other" }, "Filter");
    await page.waitForSelector("text=No in flight messages on this page.");
    await fillAndPress(page, { "#filter-value": "explored" }, "Filter");
    await row.waitFor();
    await shot("08-explorer");
    await ui.client.settle("orders", {
      nacks: leased.map(({ messageId, leaseToken }) => ({ messageId, leaseToken, delaySeconds: 0 })),
    });
    await page.click('button[data-view="available"]');
  });

  it("shows a read-only key no write action, and why", async () => {
    const reader = await ui.client.createKey({ name: "console-reader", grants: { orders: ["read"] } });
    const readOnly = await ui.signedIn("/#/queues/orders", { credential: reader.key });
    await readOnly.waitForSelector("#queue-title");
    for (const label of ["Send", "Save settings", "Redrive all", "Purge"]) {
      expect([label, await readOnly.locator(`button:has-text('${label}')`).first().isDisabled()]).toEqual([
        label,
        true,
      ]);
    }
    expect(await readOnly.locator("text=Sending needs the send grant on this queue.").count()).toBe(1);
    await readOnly.screenshot({ path: join(SHOTS, "09-read-only.png"), fullPage: true });
    await readOnly.close();
    const full = page.locator("button:has-text('Save settings')");
    expect(await full.isDisabled()).toBe(false);
  });

  it("gives an unknown queue and an unknown page their own state", async () => {
    await page.goto(`${ui.host.url}/#/queues/no-such-queue`);
    await page.waitForSelector('[data-state="unknown-queue"]');
    expect(await page.locator("h1").textContent()).toBe("No queue named no-such-queue");
    await page.goto(`${ui.host.url}/#/nowhere/at/all`);
    await page.waitForSelector('[data-state="unknown-route"]');
    await page.click("text=All queues");
    await page.waitForSelector('tr[data-queue="orders"]');
  });

  it("returns to sign-in with the reason when the token expires", async () => {
    // jose allows 30 s of clock skew: this token passes for about 3 s more.
    const shortLived = await ui.host.token("console-tenant", { roles: ["admin"], ttlSeconds: -27 });
    const expiring = await ui.signedIn("/", { credential: shortLived });
    await expiring.waitForSelector('tr[data-queue="orders"]');
    await expiring.waitForSelector('[data-reason="ended"]', { timeout: 15_000 });
    expect(await expiring.locator('[data-reason="ended"]').textContent()).toMatch(
      /^Signed out: .*ERR_JWT_EXPIRED/,
    );
    expect(await expiring.locator("#token").isVisible()).toBe(true);
    await expiring.screenshot({ path: join(SHOTS, "10-expired.png"), fullPage: true });
    await expiring.close();
  });

  it("is readable on a phone", async () => {
    const phone = await ui.signedIn("/", { viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.waitForSelector('tr[data-queue="orders"]');
    const overflow = await phone.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: join(SHOTS, "07-phone.png"), fullPage: true });
    await phone.close();
  });
});
