-- wrk script for ops/bench/rules.sh: GET /<prefix><1..N>?src=wrk as a desktop browser sends it
-- (Chrome on Windows User-Agent, Accept-Language en-US), so a link's rules read real headers and
-- match none of device=mobile, language=de, ref=x. The same script is used for every target.
--   BENCH_CODE_PREFIX  code prefix (default "bn")
--   BENCH_LINKS        codes 1..N (default 100000)
--   BENCH_ORDER        "random" (default) or "sequential" (every code once, threads striding)
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 100 + (id or 0))
  prefix = "/" .. (os.getenv("BENCH_CODE_PREFIX") or "bn")
  n = tonumber(os.getenv("BENCH_LINKS") or "100000")
  sequential = os.getenv("BENCH_ORDER") == "sequential"
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  i = id or 1
  wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    .. "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
  wrk.headers["Accept-Language"] = "en-US,en;q=0.9"
  wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
end
function request()
  local code
  if sequential then
    code = i
    i = i + nthreads
    if i > n then i = (id or 1) end
  else
    code = math.random(1, n)
  end
  return wrk.format("GET", prefix .. code .. "?src=wrk")
end
