import { fail, ok, type Result } from "../../domain/errors.js";
import type { ReadStaticFile } from "../../service/ports.js";
import * as s from "../schemas/index.js";
import { problem, routesNamed, taggedRoute } from "./route.js";

// The web console: static files, no credentials needed (the page asks for them and calls the API).

const consoleRoute = taggedRoute("Console");
const FILE = { description: "A file", contentType: "*/*" } as const;

const consoleIndex = consoleRoute("GET /", {
  summary: "The web console",
  public: true,
  responses: {
    200: { description: "The console's page", contentType: "text/html" },
    404: problem("The console is not built"),
  },
  async handle(_input, { consoleFiles }, reply) {
    return serveFile(consoleFiles, "index.html", (body, headers) => reply(200, { body }, headers));
  },
});

const consoleAsset = consoleRoute("GET /console/{*asset}", {
  summary: "The web console's files",
  public: true,
  params: s.assetParams,
  responses: { 200: FILE, 404: problem("No such file") },
  async handle({ params }, { consoleFiles }, reply) {
    return serveFile(consoleFiles, params.asset || "index.html", (body, headers) =>
      reply(200, { body }, headers),
    );
  },
});

export const consoleRoutes = routesNamed({ consoleIndex, consoleAsset });

function serveFile<A>(
  files: ReadStaticFile,
  path: string,
  answer: (body: string | Buffer, headers: Record<string, string>) => A,
): Result<A> {
  const file = files(path);
  if (!file) {
    return fail(
      "not_found",
      path === "index.html" ? "the console is not built: run npm run build" : `no console file ${path}`,
    );
  }
  return ok(
    answer(file.body, {
      "content-type": file.contentType,
      "cache-control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    }),
  );
}
