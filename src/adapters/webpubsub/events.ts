import type { TokenCredential } from "@azure/identity";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import type { Logger } from "../../logger.js";
import type { LiveEvents, LiveEventsConnection, QueueEvent } from "../../service/ports.js";

export const WEB_PUBSUB_HUB = "conveyor";

/** One Web PubSub group per queue; a dashboard's token lets it join only that group. */
const groupOf = (tenantId: string, queueId: string) => `${tenantId}.${queueId}`;

/**
 * Live events on Azure: published to the queue's Web PubSub group with the
 * app's identity (local auth is off on the service); `negotiate` hands a
 * dashboard a short-lived client URL that can only join that group.
 */
export function webPubSubEvents(endpoint: string, credential: TokenCredential, logger: Logger): LiveEvents {
  const client = new WebPubSubServiceClient(endpoint, credential, WEB_PUBSUB_HUB);
  return {
    publish(event: QueueEvent) {
      const { tenantId: _tenant, queueId, ...rest } = event;
      client
        .group(groupOf(event.tenantId, queueId))
        .sendToAll({ ...rest })
        .catch((error: unknown) =>
          logger.warn("could not publish a live event", { type: event.type, error: String(error) }),
        );
    },
    async negotiate(tenantId: string, queueId: string): Promise<LiveEventsConnection> {
      const group = groupOf(tenantId, queueId);
      const { url } = await client.getClientAccessToken({
        groups: [group],
        roles: [`webpubsub.joinLeaveGroup.${group}`],
        expirationTimeInMinutes: 60,
      });
      return { transport: "webpubsub", url };
    },
  };
}
