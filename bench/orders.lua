-- wrk script: POST orders of one unit of each sweet in BENCH_SWEETS ("id,id,id"),
-- with the bench user's bearer token. Requests alternate between listing the sweets in the given
-- order and in the reverse one, so half the orders cross the other half.
-- done() prints one JSON line the runner parses: status counts and latency percentiles.
local token = os.getenv("BENCH_TOKEN")
local ids = {}
for id in string.gmatch(os.getenv("BENCH_SWEETS"), "%d+") do
  table.insert(ids, id)
end

local function body(first, last, step)
  local items = {}
  for i = first, last, step do
    table.insert(items, string.format('{"sweet_id": %s, "quantity": 1}', ids[i]))
  end
  return '{"items": [' .. table.concat(items, ", ") .. ']}'
end

local bodies = {body(1, #ids, 1), body(#ids, 1, -1)}

wrk.method = "POST"
wrk.path = "/api/orders"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, server_errors, other, sent = 0, 0, 0, 0
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[sent % 2 + 1])
end

function response(status, headers, body)
  if status == 201 then
    ok = ok + 1
  elseif status >= 500 then
    server_errors = server_errors + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_5xx, total_other = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_5xx = total_5xx + thread:get("server_errors")
    total_other = total_other + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "ok": %d, "non_2xx": %d, "server_errors": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, total_ok, total_5xx + total_other, total_5xx,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
