import { runLocalHost, startOrExit } from "./host.js";

/** `npm start`: the local host on the embedded SQLite store. */
startOrExit(() => runLocalHost());
