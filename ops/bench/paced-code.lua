-- Like random-code.lua, but each connection waits between requests so that the whole run
-- offers about BENCH_RATE requests/s (wrk's delay() hook; the latency adds a little on top).
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 100 + (id or 0))
  n = tonumber(os.getenv("BENCH_LINKS") or "100000")
  local rate = tonumber(os.getenv("BENCH_RATE") or "0")
  local conns = tonumber(os.getenv("BENCH_CONNS") or "100")
  wait_ms = 0
  if rate > 0 then wait_ms = conns * 1000 / rate end
end
function delay()
  return wait_ms
end
function request()
  return wrk.format("GET", "/bn" .. math.random(1, n))
end
