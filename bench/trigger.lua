-- wrk script: POST /api/v1/events/trigger with a unique transaction_id per request.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

function init(args)
  key = os.getenv("CLARION_KEY")
  run = os.getenv("CLARION_RUN") or "run"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "ApiKey " .. key
  wrk.headers["Host"] = "bench.localhost"
  statuses = {}
end

function request()
  counter = counter + 1
  local subscriber = "bench-" .. ((counter * 7919 + tid) % 1000 + 1)
  local body = string.format(
    '{"event": "bench.trigger", "to": ["%s"], "payload": {"order_id": "%s-%d-%d"}, ' ..
    '"transaction_id": "%s-%d-%d"}', subscriber, run, tid, counter, run, tid, counter)
  return wrk.format(nil, "/api/v1/events/trigger", nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do codes[code] = (codes[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(codes) do table.insert(parts, code .. "=" .. n) end
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d statuses=%s\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
