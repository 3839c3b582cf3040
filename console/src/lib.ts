import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ConveyorApiError, type ConveyorClient } from "../../src/client/index.js";

/** How often pages re-read what they show, besides live events. */
export const REFRESH_MS = 2000;

export const describeError = (error: unknown): string =>
  error instanceof ConveyorApiError
    ? `${error.problem?.title ?? "Request failed"}: ${error.problem?.detail ?? error.message} (${error.code})`
    : error instanceof Error
      ? error.message
      : String(error);

/** What the last action of a form or a button did, or why it failed: for `Status`. */
export function useOutcome() {
  const [outcome, setOutcome] = useState<{ error?: string; done?: string }>({});
  /** Runs `action` and shows what it says it did, or its error; resolves to whether it succeeded. */
  const run = async (action: () => Promise<string>): Promise<boolean> => {
    try {
      setOutcome({ done: await action() });
      return true;
    } catch (error) {
      setOutcome({ error: describeError(error) });
      return false;
    }
  };
  return { outcome, run };
}

/** Runs `load` now and every `everyMs`; keeps the last good value when a refresh fails. */
export function usePolling<T>(load: () => Promise<T>, everyMs: number, deps: unknown[]) {
  const [state, setState] = useState<{ value?: T; error?: string; failure?: unknown; loading: boolean }>({
    loading: true,
  });
  const reload = useCallback(async () => {
    try {
      const value = await load();
      setState({ value, loading: false });
    } catch (error) {
      setState((previous) => ({ ...previous, error: describeError(error), failure: error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    void reload();
    const timer = setInterval(() => void reload(), everyMs);
    return () => clearInterval(timer);
  }, [reload, everyMs]);
  return { ...state, reload };
}

/**
 * Follows the queue's live events where this Conveyor streams them (the local
 * host's Server-Sent Events, read with fetch because EventSource cannot send
 * the Authorization header) and calls `onEvent` for each; on Azure, where
 * events go through Web PubSub, the pages keep polling instead.
 */
export function useLiveEvents(
  client: ConveyorClient,
  queue: string,
  onEvent: (type: string, data: unknown) => void,
) {
  const latest = useRef(onEvent);
  latest.current = onEvent;
  useEffect(() => {
    const abort = new AbortController();
    (async () => {
      if ((await client.negotiateEvents(queue)).transport !== "sse") return;
      for await (const { event, data } of client.events(queue, abort.signal)) latest.current(event, data);
    })().catch(() => undefined); // polling carries on
    return () => abort.abort();
  }, [client, queue]);
}

export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

export const formatRate = (rate: number | undefined) => (rate === undefined ? "—" : rate.toFixed(1));

export const formatTime = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : "—");

export const preview = (body: unknown) => {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
};

export const plural = (count: number, one: string, many = `${one}s`) =>
  `${count} ${count === 1 ? one : many}`;
