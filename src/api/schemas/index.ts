/**
 * One schema per request part and per answer: each validates input (or, for
 * answers, is checked against what handlers return), types its handler and
 * the typed client, and is rendered into the OpenAPI document
 * (`openapi.ts`). Request objects are strict, so a misspelt field is a 400
 * naming it rather than a silently ignored setting.
 */
export * from "./common.js";
export * from "./dead-letters.js";
export * from "./keys.js";
export * from "./messages.js";
export * from "./queues.js";
export * from "./service.js";
