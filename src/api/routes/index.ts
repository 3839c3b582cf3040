import { consoleRoutes } from "./console.js";
import { deadLetterRoutes } from "./dead-letters.js";
import { keyRoutes } from "./keys.js";
import { messageRoutes } from "./messages.js";
import { queueRoutes } from "./queues.js";
import type { Route } from "./route.js";
import { serviceRoutes } from "./service.js";
import { topicRoutes } from "./topics.js";

/** The one route registry: both hosts serve it, and the OpenAPI document is rendered from it. */
export const routes: Route[] = [
  ...serviceRoutes,
  ...consoleRoutes,
  ...queueRoutes,
  ...messageRoutes,
  ...deadLetterRoutes,
  ...topicRoutes,
  ...keyRoutes,
];
