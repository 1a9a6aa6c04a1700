-- wrk script shared by every target, so the client does the same work for each:
-- GET /bn<random 1..N>. nginx ignores the path; the redirect looks the code up.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 100 + (id or 0))
  n = tonumber(os.getenv("BENCH_LINKS") or "100000")
end
function request()
  return wrk.format("GET", "/bn" .. math.random(1, n))
end
