-- wrk script: GET the paths listed in BENCH_PATHS_FILE (one a line) in turn.
-- done() prints one JSON line the runner parses: status counts and latency percentiles.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS_FILE")) do
  if line ~= "" then table.insert(paths, line) end
end
local threads = {}
local next_path = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, other = 0, 0
end

function request()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
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
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "ok": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, total_ok, total_other,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
