-- wrk script: POST one forecast as JSON, and count which back-end and which model version
-- answered each request (the "backend" and "model_version" fields of the answer). Used by
-- benchmarks/wrkload.py.
--
--   wrk -s predict.lua http://HOST/models/NAME/predict -- '{"scope": "1", "date": "2025-01-31"}'
--
-- With WRK_DELAY_MS set (benchmarks/wrkload.py --rate), each connection waits that long
-- after an answer before its next request: a steady load that leaves CPU to what runs
-- beside it. Unset, every connection sends again at once (as fast as the tier answers).
local threads = {}
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")

if pause then
  function delay()
    return pause
  end
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.body = args[1] or '{"scope": "1", "date": "2025-01-31"}'
  wrk.headers["Content-Type"] = "application/json"
  backends = {}
  versions = {}
end

function response(status, headers, body)
  local id = body and body:match('"backend"%s*:%s*"([^"]*)"')
  if id then
    backends[id] = (backends[id] or 0) + 1
  end
  local version = body and body:match('"model_version"%s*:%s*(%d+)')
  if version then
    versions[version] = (versions[version] or 0) + 1
  end
end

local function total(name)
  local seen = {}
  for _, thread in ipairs(threads) do
    for id, n in pairs(thread:get(name) or {}) do
      seen[id] = (seen[id] or 0) + n
    end
  end
  local parts = {}
  for id, n in pairs(seen) do
    table.insert(parts, string.format('"%s": %d', id, n))
  end
  return table.concat(parts, ", ")
end

-- One JSON line after wrk's own report.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"wrk": {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "non_2xx": %d, "backends": {%s}, ' ..
    '"versions": {%s}}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect, e.read, e.write, e.timeout, e.status,
    total("backends"), total("versions")))
end
