-- wrk script: POST a one-unit purchase with the bench user's bearer token.
-- BENCH_SWEETS="first:count" spreads requests over ids first..first+count-1 at random;
-- without it every request buys the sweet in the URL (the hot row).
-- done() prints one JSON line the runner parses: status counts and latency percentiles.
local token = os.getenv("BENCH_TOKEN")
local spread = os.getenv("BENCH_SWEETS")
local path_format = os.getenv("BENCH_PATH") or "/api/sweets/%d/purchase"
local first, count
if spread then
  first, count = spread:match("(%d+):(%d+)")
  first, count = tonumber(first), tonumber(count)
end

wrk.method = "POST"
wrk.body = '{"quantity": 1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, other = 0, 0
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  if first then
    return wrk.format(nil, string.format(path_format, first + math.random(0, count - 1)))
  end
  return wrk.format()
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "ok": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, total_ok, total_other,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
