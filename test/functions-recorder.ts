/**
 * `@azure/functions` with its `app` swapped for a recorder, for the tests
 * that run `src/functions/` without the Functions host (Core Tools download
 * binaries): every registration is pushed onto `registrations`, so a test can
 * find a function by name and invoke its handler as the host would. Use it
 * from a `vi.mock` factory with hoisted arrays; this module imports only the
 * library's types, so loading it there cannot loop back into the mock.
 */
import type * as Functions from "@azure/functions";

const KINDS = ["http", "timer", "serviceBusQueue", "cosmosDB"] as const;

export function recordingFunctions(
  original: typeof Functions,
  registrations: { kind: string; name: string; options: unknown }[],
  appTerminate: (handler: () => Promise<void>) => unknown = () => undefined,
) {
  return {
    ...original,
    app: {
      ...Object.fromEntries(
        KINDS.map((kind) => [
          kind,
          (name: string, options: unknown) => registrations.push({ kind, name, options }),
        ]),
      ),
      hook: { appTerminate },
    },
  };
}

/**
 * What both Cosmos DB change-feed triggers (`messageChanges`, `topicChanges`)
 * bind to: the account through the identity-based `COSMOS` connection, the
 * app's database, and the `leases` container they share, which infra creates.
 */
export const CHANGE_FEED_SOURCE = {
  connection: "COSMOS",
  databaseName: "%COSMOS_DATABASE%",
  leaseContainerName: "leases",
  createLeaseContainerIfNotExists: false,
};
