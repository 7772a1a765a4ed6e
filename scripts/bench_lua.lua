-- LuaJIT micro-benchmark of zmq_logger.log().
--
-- Usage: luajit scripts/bench_lua.lua [endpoint] [record_bytes]
--   endpoint      adaptor listen endpoint (start zmq-adaptor -b <endpoint> first).
--                 With it, records are delivered and the "steady" cases run: batches
--                 of 1000 calls, flushed between batches (only the calls are timed),
--                 which is the state of a worker whose queue keeps up.
--                 Without it (or "-"), nothing is sent and only the "burst" cases run:
--                 the queue is sized to hold every record and grows during the run.
--   record_bytes  size of the string record (default 200)
--
-- package.cpath must find zmq_logger.so; <checkout>/target/release is prepended
-- (derived from this script's path).
--
-- Prints ns per call; the "empty Lua call" line is the loop overhead for reference.
-- Exits 1 if any log() call failed.

local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.cpath = script_dir .. "/../target/release/?.so;" .. package.cpath

local endpoint = arg[1]
if endpoint == "-" or endpoint == "" then
    endpoint = nil
end
local rec_bytes = tonumber(arg[2]) or 200

local BURST_CALLS = 200000
local ROUNDS = 3
local BATCH = 1000
local BATCHES = 500

local zl = require "zmq_logger"

local capacity = BURST_CALLS * ROUNDS * 3 + 16
local ok, err = zl.configure {
    endpoint = endpoint or "ipc:///nonexistent-dir/zmq-logger-bench",
    queue_records = capacity,
    queue_bytes = capacity * (rec_bytes + 128),
    linger_ms = endpoint and 5000 or 1,
}
if not ok then
    io.stderr:write("configure failed: ", err, "\n")
    os.exit(1)
end

local ffi = require "ffi"
pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_nsec; } zl_bench_timespec;
    int clock_gettime(int clk_id, zl_bench_timespec *tp);
]])
local ts = ffi.new("zl_bench_timespec")
local function clock()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local log = zl.log
local failures = 0

local function loop_log(rec, n)
    local f = 0
    for _ = 1, n do
        if not log(rec) then
            f = f + 1
        end
    end
    failures = failures + f
end

local sink = 0
local function empty(s)
    if s then
        sink = sink + 1
    end
    return true
end
local function loop_empty(rec, n)
    for _ = 1, n do
        if not empty(rec) then
            sink = sink - 1
        end
    end
end

local function flush()
    if endpoint then
        local fok, ferr = zl.flush(30)
        if not fok then
            io.stderr:write("flush failed: ", tostring(ferr), "\n")
            os.exit(1)
        end
    end
end

-- n calls in a row per round; best and median of ROUNDS rounds.
local function burst(name, loop, rec, n)
    local samples = {}
    for r = 1, ROUNDS do
        local t0 = clock()
        loop(rec, n)
        samples[r] = (clock() - t0) / n
        flush()
    end
    table.sort(samples)
    print(string.format("%-40s %9d %9.1f %9.1f", name, n * ROUNDS, samples[1],
        samples[math.ceil(ROUNDS / 2)]))
end

-- BATCHES batches of BATCH calls, flushed in between; mean over all calls.
local function steady(name, loop, rec)
    local total = 0
    for _ = 1, BATCHES do
        local t0 = clock()
        loop(rec, BATCH)
        total = total + (clock() - t0)
        flush()
    end
    print(string.format("%-40s %9d %9.1f %9s", name, BATCH * BATCHES,
        total / (BATCH * BATCHES), "-"))
end

local record = string.rep("x", rec_bytes)
local small = string.rep("s", 16)
local tbl = { time = 1700000000.123, key = "abc123", status = 200, method = "GET",
              uri = "/v1/items", bytes_sent = 512 }

print(string.format("zmq_logger %s, library %s, FFI fast path: %s", zl._VERSION,
    zl._LIBRARY, tostring(zl._FFI)))
print(endpoint and ("delivering to " .. endpoint)
    or "no adaptor: enqueue cost only, the queue grows during the run")
print(string.format("%-40s %9s %9s %9s", "case", "calls", "ns/call", "median"))
burst("empty Lua call (loop baseline)", loop_empty, record, BURST_CALLS)
burst(string.format("log(string %dB) burst", rec_bytes), loop_log, record, BURST_CALLS)
burst("log(string 16B) burst", loop_log, small, BURST_CALLS)
if endpoint then
    steady(string.format("log(string %dB) steady", rec_bytes), loop_log, record)
    steady("log(string 16B) steady", loop_log, small)
end
burst("log(table, 6 fields) -> JSON", loop_log, tbl, BURST_CALLS / 10)

local s = zl.stats()
print(string.format("stats: enqueued=%d sent=%d dropped_queue_full=%d queue_records=%d",
    s.enqueued, s.sent, s.dropped_queue_full, s.queue_records))
if failures > 0 then
    io.stderr:write(failures, " log() calls failed\n")
    os.exit(1)
end
