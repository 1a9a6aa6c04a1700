-- POST /api/v1/links with a unique destination per request:
--   https://example.com/bench/<BENCH_RUN_ID>/<thread>/<n>
-- so that the links this run created can be counted in the database afterwards
-- (url LIKE 'https://example.com/bench/<BENCH_RUN_ID>/%'). Needs BENCH_TOKEN (bearer token).
-- Prints, after wrk's own summary, one line: `status-counts 201=N 429=N other=N`.
local counter = 0
local threads = {}
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  run = os.getenv("BENCH_RUN_ID") or "run"
  n = 0
  created, limited, other = 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
end
function request()
  n = n + 1
  local body = '{"url":"https://example.com/bench/' .. run .. '/' .. id .. '/' .. n .. '"}'
  return wrk.format(nil, "/api/v1/links", nil, body)
end
function response(status, headers, body)
  if status == 201 then created = created + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local c, l, o = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); l = l + t:get("limited"); o = o + t:get("other")
  end
  io.write(string.format("status-counts 201=%d 429=%d other=%d\n", c, l, o))
end
