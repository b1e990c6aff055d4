-- wrk script: POST a forecast for a scope picked per request (benchmarks/scale.py).
--
--   wrk -s scopes.lua URL -- random FIRST LAST    a random scope of FIRST..LAST
--   wrk -t1 -s scopes.lua URL -- sequence FIRST LAST  each request a scope never asked
--                                                      for yet (one thread: one counter);
--                                                      stops once every scope was asked
--                                                      (wrk still waits out -d: the caller
--                                                      derives req/s from the mean latency)
-- Scopes are named by number. Prints one JSON line: requests, seconds, non-2xx answers.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  mode, first, last = args[1] or "random", tonumber(args[2] or "1"), tonumber(args[3] or "1")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time())
  nextscope = first
  bad = 0
  answered = 0
end

function request()
  local scope
  if mode == "sequence" then
    scope = math.min(nextscope, last)
    nextscope = nextscope + 1
  else
    scope = math.random(first, last)
  end
  return wrk.format(nil, nil, nil, '{"scope": "' .. scope .. '", "date": "2025-02-01"}')
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
  answered = answered + 1
  if mode == "sequence" and answered >= last - first + 1 then
    wrk.thread:stop()  -- every scope was touched once: the rest would not be first touches
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, thread in ipairs(threads) do
    non2xx = non2xx + (thread:get("bad") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "non2xx": %d, "mean_ms": %.3f, "p50_ms": %.2f, ' ..
    '"p99_ms": %.2f}\n', summary.requests, summary.duration / 1e6, non2xx, latency.mean / 1000,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
