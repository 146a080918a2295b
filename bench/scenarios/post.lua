-- wrk script: POST the same body on every request; optional pacing for a fixed offered load.
-- BENCH_BODY: file with the request body; BENCH_PATH: path; BENCH_AUTH: Authorization header;
-- BENCH_DELAY_MS: mean pause each connection takes between its requests (0: as fast as possible).
-- Pauses are exponentially distributed, so the connections do not fire in lockstep and the
-- arrivals approach a Poisson stream (an open-loop load) instead of bursts of every connection.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pace > 0 then
  function init(args)
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  end
  function delay()
    return -math.log(1 - math.random()) * pace
  end
end
