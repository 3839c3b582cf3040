/**
 * Where the hosts, the composition root and the deployment package import
 * the registry from; the routes themselves live in `routes/`, one file a
 * resource.
 */
export { routes } from "./routes/index.js";
export type { AnyRoute, HttpMethod, Route, Services } from "./routes/route.js";
