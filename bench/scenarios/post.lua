-- wrk script: POST the same body on every request; optional pacing for a fixed offered load.
-- BENCH_BODY: file with the request body; BENCH_PATH: path; BENCH_AUTH: Authorization header;
-- BENCH_DELAY_MS: pause each connection takes between its requests (0: as fast as possible).
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pace > 0 then
  function delay()
    return pace
  end
end
