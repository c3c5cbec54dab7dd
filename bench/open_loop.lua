-- Open-loop load for wrk (bench/overload.py): a fixed arrival rate, not wrk's closed loop.
--
-- Run with as many threads as connections (`wrk -tN -cN`), so each Lua state drives exactly one
-- connection and knows which request a response answers. Connection i of N sends its k-th
-- request at start + (i + k*N) / RATE: together the N connections offer exactly RATE requests per
-- second, evenly spaced, whatever the server's latency, as long as a connection is free at its
-- slot. N is the cap on requests outstanding; a slot that finds its connection still waiting is
-- sent as soon as the answer arrives and counted in `late`, and its latency is measured from the
-- slot, not from the late send (as wrk2 does: no coordinated omission).
--
-- Environment:
--   BENCH_BODY_FILE  the JSON request body
--   BENCH_HEADERS    extra request headers, one "Name: value" per line
--   BENCH_MARKERS    lines every 200 body must contain
--   OPEN_RATE        requests per second offered, all connections together
--   OPEN_CONNS       the number of connections (= wrk threads)
--   OPEN_WARMUP_S    slots before this many seconds are sent but not recorded
--   OPEN_OUT         where done() writes the per-request records and the counts
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } open_loop_timespec;
  int clock_gettime(int clock_id, open_loop_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("open_loop_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + tonumber(timespec.tv_nsec) / 1000
end

local body_file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = body_file:read("*a")
body_file:close()
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local k, v = line:match("^%s*([^:]+):%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end
local markers = {}
for m in (os.getenv("BENCH_MARKERS") or ""):gmatch("[^\n]+") do table.insert(markers, m) end

local RATE = tonumber(os.getenv("OPEN_RATE"))
local CONNS = tonumber(os.getenv("OPEN_CONNS"))
local WARMUP_US = tonumber(os.getenv("OPEN_WARMUP_S") or "0") * 1000000

-- Main state: hand each thread its index and the common start (after every thread is created).
local threads = {}
local start_at = nil
function setup(thread)
  start_at = start_at or (now_us() + 500000 + CONNS * 2000)
  thread:set("index", #threads)
  thread:set("start_us", start_at)
  table.insert(threads, thread)
end

-- Thread state.
local request_bytes, interval_us, next_slot, slot, sent_at
function init(args)
  request_bytes = wrk.format()
  interval_us = CONNS * 1000000 / RATE
  next_slot = start_us + index * 1000000 / RATE
  -- Records as "status latency_us late_us slot_us" lines (recorded slots only), and the counts.
  records, sent, sent_window, late, retry_after_missing, bad_body, other, bad_sample = {}, 0, 0, 0, 0, 0, 0, ""
end

function delay()
  local wait = next_slot - now_us()
  if wait <= 0 then return 0 end
  return math.ceil(wait / 1000) -- wrk's timers count whole ms: never before the slot
end

function request()
  slot = next_slot
  next_slot = next_slot + interval_us
  sent_at = now_us()
  sent = sent + 1
  if slot - start_us >= WARMUP_US then
    sent_window = sent_window + 1
    if sent_at - slot > 2000 then late = late + 1 end
  end
  return request_bytes
end

function response(status, headers, body)
  local done_at = now_us()
  local origin = math.min(slot, sent_at) -- a late send counts from its slot
  if slot - start_us < WARMUP_US then return end
  local ok = true
  if status == 200 then
    for _, m in ipairs(markers) do
      if not body:find(m, 1, true) then ok = false break end
    end
    if not ok then bad_body = bad_body + 1 end
  elseif status == 503 then
    local retry_after = nil
    for k, v in pairs(headers) do
      if k:lower() == "retry-after" then retry_after = v end
    end
    if not retry_after or not body:find("overloaded", 1, true) then
      ok = false
      retry_after_missing = retry_after_missing + 1
    end
  else
    ok = false
    other = other + 1
  end
  if not ok and bad_sample == "" then bad_sample = tostring(status) .. " " .. body:sub(1, 200) end
  table.insert(records, string.format("%d %d %d %d", status, done_at - origin, sent_at - slot, slot - start_us))
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("OPEN_OUT"), "w"))
  local totals = { sent = 0, sent_window = 0, late = 0, retry_after_missing = 0, bad_body = 0, other = 0 }
  local sample = ""
  for _, t in ipairs(threads) do
    for name, _ in pairs(totals) do totals[name] = totals[name] + (t:get(name) or 0) end
    if sample == "" then sample = t:get("bad_sample") or "" end
    for _, line in ipairs(t:get("records") or {}) do out:write(line, "\n") end
  end
  local e = summary.errors
  out:write(string.format(
    "# sent=%d sent_window=%d late=%d retry_after_missing=%d bad_body=%d other=%d err_connect=%d err_read=%d " ..
    "err_write=%d err_timeout=%d window_us=%d\n",
    totals.sent, totals.sent_window, totals.late, totals.retry_after_missing, totals.bad_body, totals.other,
    e.connect, e.read, e.write, e.timeout, now_us() - start_at - WARMUP_US))
  out:write("# sample ", (sample:gsub("[%c]", " ")), "\n")
  out:close()
end
