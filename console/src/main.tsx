import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { ConveyorApiError, ConveyorClient } from "../../src/client/index.js";
import { QueuePage } from "./QueuePage.js";
import { QueuesPage } from "./QueuesPage.js";
import { SignIn } from "./SignIn.js";
import { TopicPage, TopicsPage } from "./TopicsPage.js";
import "./styles.css";

/**
 * The Conveyor console: a static page that talks to the public v1 API only,
 * with the user's own token or API key (kept in this browser's session).
 */

const TOKEN_KEY = "conveyor.token";

type Route =
  | { page: "queues" }
  | { page: "queue"; name: string }
  | { page: "topics" }
  | { page: "topic"; name: string }
  | { page: "unknown"; hash: string };

function parseRoute(hash: string): Route {
  if (hash === "" || hash === "#" || hash === "#/") return { page: "queues" };
  if (hash === "#/topics") return { page: "topics" };
  const topic = /^#\/topics\/([^/]+)\/?$/.exec(hash);
  if (topic) return { page: "topic", name: decodeURIComponent(topic[1] as string) };
  const match = /^#\/queues\/([^/]+)\/?$/.exec(hash);
  return match ? { page: "queue", name: decodeURIComponent(match[1] as string) } : { page: "unknown", hash };
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

/** Why the server refused a credential, from its problem document. */
async function refusalOf(response: Response): Promise<string> {
  const problem = (await response
    .clone()
    .json()
    .catch(() => ({}))) as { detail?: string };
  return problem.detail ?? "the credential was refused";
}

function App() {
  const [token, setToken] = useState(sessionStorage.getItem(TOKEN_KEY) ?? "");
  const [ended, setEnded] = useState<string | undefined>();
  const route = useRoute();
  const signOut = (reason?: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken("");
    setEnded(reason);
  };
  // Any 401 (an expired token, a revoked key) ends the session: back to sign-in with the server's reason.
  const client = useMemo(
    () =>
      new ConveyorClient({
        baseUrl: location.origin,
        token,
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          if (response.status === 401 && token) signOut(await refusalOf(response));
          return response;
        },
      }),
    [token],
  );
  const check = async (candidate: string): Promise<string | undefined> => {
    try {
      await new ConveyorClient({ baseUrl: location.origin, token: candidate }).listQueues({ limit: 1 });
    } catch (error) {
      if (error instanceof ConveyorApiError && error.status === 401)
        return error.problem?.detail ?? error.code;
      return error instanceof Error ? error.message : String(error);
    }
    sessionStorage.setItem(TOKEN_KEY, candidate);
    setEnded(undefined);
    setToken(candidate);
    return undefined;
  };
  if (!token) return <SignIn check={check} reason={ended} />;
  return (
    <div class="shell">
      <header class="topbar">
        <a href="#/" class="brand">
          Conveyor
        </a>
        <nav>
          <a href="#/">Queues</a> <a href="#/topics">Topics</a>
        </nav>
        <button type="button" class="link" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main>
        {route.page === "queues" && <QueuesPage client={client} />}
        {route.page === "queue" && <QueuePage client={client} name={route.name} key={route.name} />}
        {route.page === "topics" && <TopicsPage client={client} />}
        {route.page === "topic" && <TopicPage client={client} name={route.name} key={route.name} />}
        {route.page === "unknown" && (
          <section class="card" data-state="unknown-route">
            <h1>Nothing here</h1>
            <p>
              The console has no page at <code>{route.hash}</code>. <a href="#/">All queues</a>
            </p>
          </section>
        )}
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
