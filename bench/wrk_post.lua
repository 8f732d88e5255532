-- wrk script: send one fixed request and print a JSON summary line.
-- Environment:
--   BENCH_BODY  request body (JSON); empty or unset -> GET without a body
--   BENCH_KEY   bearer token (optional)
-- The summary line starts with "BENCH_JSON " and holds microsecond latencies.
-- Example:
--   BENCH_BODY='{"model":"m","messages":[{"role":"user","content":"hi"}]}' \
--   wrk -t1 -c32 -d15s --timeout 10s -s wrk_post.lua http://127.0.0.1:8000/v1/chat/completions

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
else
  wrk.method = "GET"
end
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"lat_mean_us":%.1f,"lat_stdev_us":%.1f,"lat_min_us":%d,"lat_p50_us":%d,"lat_p90_us":%d,' ..
    '"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
