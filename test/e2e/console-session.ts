import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import type { ConveyorClient } from "../../src/client/index.js";
import { startTestHost, type TestHost } from "../host.js";
import { requireBuild } from "../process.js";

/**
 * What the console's tests drive: the built console on the real local host,
 * in headless Chromium (Debian's package, driven by playwright-core). Without
 * a Chromium (install it with `npm run setup:browser`; CI does), they are
 * skipped.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);

export interface ConsoleSession {
  host: TestHost;
  /** An admin of the session's tenant: its token, and a client that sends it. */
  token: string;
  client: ConveyorClient;
  browser: Browser;
  /** A new tab at `path` of the console, signed in with `credential` (the admin's token unless given). */
  signedIn(
    path: string,
    options?: { credential?: string; viewport?: { width: number; height: number }; isMobile?: boolean },
  ): Promise<Page>;
  close(): Promise<void>;
}

export async function startConsole(tenant: string): Promise<ConsoleSession> {
  requireBuild();
  const host = await startTestHost();
  const { token, client } = await host.adminSession(tenant);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    host,
    token,
    client,
    browser,
    async signedIn(path, { credential = token, ...tab } = {}) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ...tab });
      await page.goto(`${host.url}${path}`);
      await page.fill("#token", credential);
      await page.click("text=Open the console");
      return page;
    },
    async close() {
      await browser.close();
      await host.close();
    },
  };
}

/** Fills a form's fields (CSS selector → value), then presses the button labelled `button`. */
export async function fillAndPress(
  page: Page,
  fields: Record<string, string>,
  button: string,
): Promise<void> {
  for (const [selector, value] of Object.entries(fields)) await page.fill(selector, value);
  await page.click(`button:has-text('${button}')`);
}
