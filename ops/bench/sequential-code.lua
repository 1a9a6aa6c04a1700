-- Warm-up: every code once, in order, the threads striding over 1..N.
local counter = 0
local threads = {}
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  n = tonumber(os.getenv("BENCH_LINKS") or "100000")
  i = id or 1
end
function request()
  local code = i
  i = i + nthreads
  if i > n then i = (id or 1) end
  return wrk.format("GET", "/bn" .. code)
end
