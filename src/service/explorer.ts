import type { Result } from "../domain/errors.js";
import type { Availability, Message } from "../domain/message.js";
import { queueUseCase } from "./context.js";
import type { Page, PageRequest } from "./ports.js";

export interface BrowseRequest extends PageRequest {
  view: Availability;
  /** Only messages whose attribute of this name has `value` (or any value when `value` is absent). */
  attribute?: { name: string; value?: string };
}

/**
 * The message explorer: messages that are available, delayed or in flight,
 * as a `read` grant may see them, leasing nothing. The attribute filter runs
 * over each page the store returns, so a filtered page can hold fewer
 * messages than its limit; its cursor still goes on from where the store
 * stopped.
 */
export const browseMessages = queueUseCase(
  "read",
  async (queue, { context }, request: BrowseRequest): Promise<Result<Page<Message>>> => {
    const page = await context.store.listMessages(queue, request.view, context.clock.now(), request);
    const { attribute } = request;
    if (!page.ok || !attribute) return page;
    const matches = (message: Message) =>
      Object.hasOwn(message.attributes, attribute.name) &&
      (attribute.value === undefined || message.attributes[attribute.name] === attribute.value);
    return { ok: true, value: { ...page.value, items: page.value.items.filter(matches) } };
  },
);
