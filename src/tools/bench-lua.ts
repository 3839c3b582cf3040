/**
 * The Lua scripts `npm run bench` hands to wrk. wrk runs LuaJIT, so the
 * scripts read the wall clock through its FFI (clock_gettime), which the
 * latency measurements that wrk cannot make itself need: receive latency
 * alone inside a receive-settle loop, and end-to-end latency from a
 * producer's send to the consumer's settle, across two wrk processes.
 *
 * Every script that counts writes one line `settled N` and, when it measures
 * latency, one line `measured N p50 X p99 Y` (milliseconds) from done().
 */

type Headers = Record<string, string>;

const luaString = (text: string) => JSON.stringify(text);
const luaHeaders = (headers: Headers) =>
  `{ ${Object.entries(headers)
    .map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`)
    .join(", ")} }`;

/** Shared by every script: the clock, a latency histogram (0.1 ms buckets) and the summary line. */
const common = `
local ffi = require("ffi")
pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } bench_timespec; int clock_gettime(int, bench_timespec *);")
local clock = ffi.new("bench_timespec")
function now_ms()
  ffi.C.clock_gettime(0, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
settled = 0
hist = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function record(ms)
  local bucket = math.floor(ms * 10)
  if bucket < 0 then bucket = 0 end
  hist[bucket] = (hist[bucket] or 0) + 1
end
function done(summary, latency, requests)
  local merged, total, count = {}, 0, 0
  for _, thread in ipairs(threads) do
    count = count + thread:get("settled")
    for bucket, n in pairs(thread:get("hist")) do
      merged[bucket] = (merged[bucket] or 0) + n
      total = total + n
    end
  end
  local buckets = {}
  for bucket in pairs(merged) do buckets[#buckets + 1] = bucket end
  table.sort(buckets)
  local function percentile(p)
    local seen = 0
    for _, bucket in ipairs(buckets) do
      seen = seen + merged[bucket]
      if seen >= p * total then return bucket / 10 end
    end
    return 0
  end
  io.write(string.format("settled %d\\n", count))
  if total > 0 then
    io.write(string.format("measured %d p50 %.1f p99 %.1f\\n", total, percentile(0.5), percentile(0.99)))
  end
end
`;

/** The same request again and again. */
export function constantPost(path: string, headers: Headers, body: string): string {
  return `
wrk.method = "POST"
wrk.path = ${luaString(path)}
wrk.body = ${luaString(body)}
wrk.headers = ${luaHeaders(headers)}
`;
}

/**
 * How each system under test spells receive and settle. Conveyor settles a
 * batch in one request (its answer names each message) or acks one message a
 * request; Azurite deletes one message a request. A one-message settle answers
 * 204 with no body, so the script matches those answers to leases in order.
 */
export interface QueueDialect {
  receive: (max: number, wait: number) => string;
  /** Lua: defines parse_received(body) -> a table of { id, token, sentAt }. */
  parseReceived: string;
  /** Lua expression: a table of the requests that settle `leases`. */
  settleRequests: string;
  settlesInBatches: boolean;
  /** Lua expression: the request that enqueues one message whose text is `text`. */
  enqueue: string;
}

export function conveyorDialect(queue: string, token: string, settle: "batch" | "each"): QueueDialect {
  const auth = luaHeaders({ authorization: `Bearer ${token}` });
  const json = luaHeaders({ authorization: `Bearer ${token}`, "content-type": "application/json" });
  return {
    receive: (max, wait) =>
      `wrk.format("GET", "/v1/queues/${queue}/messages?max=${max}&wait=${wait}", ${auth}, nil)`,
    parseReceived: `
function parse_received(body)
  local leases = {}
  for id, token in body:gmatch('"messageId":"([^"]+)".-"leaseToken":"([^"]+)"') do
    leases[#leases + 1] = { id = id, token = token }
  end
  local index = 1
  for sent in body:gmatch('"body":"([%d%.]+)|') do
    if leases[index] then leases[index].sentAt = tonumber(sent) end
    index = index + 1
  end
  return leases
end
`,
    settleRequests:
      settle === "batch"
        ? `(function()
  local acks = {}
  for _, lease in ipairs(leases) do
    acks[#acks + 1] = '{"messageId":"' .. lease.id .. '","leaseToken":"' .. lease.token .. '"}'
  end
  return { wrk.format("POST", "/v1/queues/${queue}/messages/settle", ${json}, '{"acks":[' .. table.concat(acks, ",") .. ']}') }
end)()`
        : `(function()
  local requests = {}
  for _, lease in ipairs(leases) do
    requests[#requests + 1] = wrk.format("POST", "/v1/queues/${queue}/messages/" .. lease.id .. "/ack", ${json}, '{"leaseToken":"' .. lease.token .. '"}')
  end
  return requests
end)()`,
    settlesInBatches: settle === "batch",
    enqueue: `wrk.format("POST", "/v1/queues/${queue}/messages", ${json}, '{"body":"' .. text .. '"}')`,
  };
}

/**
 * Conveyor, publishing to `topic` (with `attributes`, for the subscriptions'
 * filters) and receiving from `queue`, one of its subscription queues.
 */
export function topicDialect(
  topic: string,
  queue: string,
  token: string,
  attributes: Record<string, string>,
): QueueDialect {
  const json = luaHeaders({ authorization: `Bearer ${token}`, "content-type": "application/json" });
  const tail = luaString(`","attributes":${JSON.stringify(attributes)}}`);
  return {
    ...conveyorDialect(queue, token, "batch"),
    enqueue: `wrk.format("POST", "/v1/topics/${topic}/messages", ${json}, '{"body":"' .. text .. ${tail})`,
  };
}

export function azuriteDialect(account: string, queue: string, sas: string): QueueDialect {
  const xml = luaHeaders({ "content-type": "application/xml" });
  return {
    receive: (max) =>
      `wrk.format("GET", "/${account}/${queue}/messages?numofmessages=${max}&visibilitytimeout=300&${sas}", {}, nil)`,
    parseReceived: `
local function encode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
function parse_received(body)
  local leases = {}
  for message in body:gmatch("<QueueMessage>(.-)</QueueMessage>") do
    leases[#leases + 1] = {
      id = message:match("<MessageId>(.-)</MessageId>"),
      token = encode(message:match("<PopReceipt>(.-)</PopReceipt>")),
      sentAt = tonumber(message:match("<MessageText>([%d%.]+)|") or ""),
    }
  end
  return leases
end
`,
    settleRequests: `(function()
  local requests = {}
  for _, lease in ipairs(leases) do
    requests[#requests + 1] = wrk.format("DELETE", "/${account}/${queue}/messages/" .. lease.id .. "?popreceipt=" .. lease.token .. "&${sas}", {}, nil)
  end
  return requests
end)()`,
    settlesInBatches: false,
    enqueue: `wrk.format("POST", "/${account}/${queue}/messages?${sas}", ${xml}, "<QueueMessage><MessageText>" .. text .. "</MessageText></QueueMessage>")`,
  };
}

/**
 * Receive up to 10, settle exactly those, and again; counts what it settled.
 * With `endToEnd`, a message's text starts with its send time and the
 * script records send-to-settled latency; with `timeToReceive`, from the
 * send to the receive's answer (how soon a message is receivable). An empty receive waits
 * `idleDelayMs` before the next one (for a peer without long polling).
 */
export function receiveAndSettle(
  dialect: QueueDialect,
  options: { wait: number; endToEnd: boolean; idleDelayMs: number; timeToReceive?: boolean },
): string {
  const record = options.endToEnd ? "if sent then record(now_ms() - sent) end" : "";
  const recordReceived = options.timeToReceive
    ? "for _, lease in ipairs(leases) do if lease.sentAt then record(now_ms() - lease.sentAt) end end"
    : "";
  return `${common}
${dialect.parseReceived}
local queued = {}
local in_flight = {}
local in_order = {}
local idle = false
function delay()
  if idle and #queued == 0 then return ${options.idleDelayMs} end
  return 0
end
function request()
  return table.remove(queued, 1) or ${dialect.receive(10, options.wait)}
end
function response(status, headers, body)
  if body and body:find('"results"', 1, true) then
    for id, code in body:gmatch('"messageId":"([^"]+)","status":(%d+)') do
      local sent = in_flight[id]
      in_flight[id] = nil
      if code == "204" then
        settled = settled + 1
        ${record}
      end
    end
    return
  end
  if status == 204 then
    local lease = table.remove(in_order, 1)
    settled = settled + 1
    local sent = lease and lease.sentAt
    ${record}
    return
  end
  if status ~= 200 or not body then return end
  local leases = parse_received(body)
  idle = #leases == 0
  ${recordReceived}
  for _, lease in ipairs(leases) do
    ${dialect.settlesInBatches ? "in_flight[lease.id] = lease.sentAt or false" : "in_order[#in_order + 1] = lease"}
  end
  if #leases > 0 then
    for _, r in ipairs(${dialect.settleRequests}) do queued[#queued + 1] = r end
  end
end
`;
}

/**
 * A producer at a steady rate: each wrk thread sends `perThreadPerSecond`
 * messages a second whose text starts with the send time (wrk's delay()
 * holds each connection until its slot), padded to 1 KiB.
 */
export function pacedProducer(dialect: QueueDialect, perThreadPerSecond: number): string {
  return `${common}
local interval = ${1000 / perThreadPerSecond}
local next_at = nil
local pad = string.rep("x", 1000)
function delay()
  local now = now_ms()
  next_at = math.max((next_at or now) + interval, now - interval)
  return math.max(0, next_at - now)
end
function request()
  local text = string.format("%.3f|", now_ms()) .. pad
  return ${dialect.enqueue}
end
function response(status, headers, body)
  if status == 201 then settled = settled + 1 end
end
`;
}

/**
 * The cost of depth, on one connection: receive up to 10 (timed), settle
 * them, enqueue as many again, so the backlog stays where it was.
 */
export function depthProbe(dialect: QueueDialect): string {
  return `${common}
${dialect.parseReceived}
local queued = {}
local receive_sent = nil
local text = string.rep("x", 1024)
function request()
  local next_request = table.remove(queued, 1)
  if next_request then return next_request end
  receive_sent = now_ms()
  return ${dialect.receive(10, 0)}
end
function response(status, headers, body)
  if receive_sent == nil then return end
  record(now_ms() - receive_sent)
  receive_sent = nil
  local leases = parse_received(body or "")
  settled = settled + #leases
  if #leases == 0 then return end
  for _, r in ipairs(${dialect.settleRequests}) do queued[#queued + 1] = r end
  for _ = 1, #leases do queued[#queued + 1] = ${dialect.enqueue} end
end
`;
}
