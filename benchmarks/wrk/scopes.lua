-- wrk script: POST a forecast for a scope picked per request (benchmarks/scale.py).
--
--   wrk -s scopes.lua URL -- random FIRST LAST    a random scope of FIRST..LAST
--   wrk -t1 -s scopes.lua URL -- sequence FIRST LAST  each request a scope never asked
--                                                      for yet (one thread: one counter)
-- Scopes are named by number. Prints one JSON line: requests and non-2xx answers.
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
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, thread in ipairs(threads) do
    non2xx = non2xx + (thread:get("bad") or 0)
  end
  io.write(string.format('{"requests": %d, "non2xx": %d, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, non2xx, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
