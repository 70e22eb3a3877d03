-- wrk script for `tools/bench attendance`: class sessions through the HTTP API.
-- Arguments (after `--`): <seed file> <run tag>
-- The seed file (tab-separated): `T <taken_on>`, `A <institution token>`, and one `C <thread> <course id> <ids,...>` per
-- class. Each wrk thread posts sessions for its own classes only, round-robin, at most 60 per class (the lessons each
-- enrollment bought), every one with a fresh Idempotency-Key. Counts the items recorded and refused from each answer.

local threads = {}
local next_tid = 1

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- Thread state below (each wrk thread has its own Lua state).
local classes = {}
local auth, taken_on, tag
local n, turn = 0, 0
local sessions_per_class = 60
sessions, recorded, refused, exhausted, non2xx = 0, 0, 0, 0, 0
first_error = nil

function init(args)
   local file = assert(args[1], "seed file argument missing")
   tag = args[2] or "run"
   local lines = {}
   for line in io.lines(file) do table.insert(lines, line) end
   for _, line in ipairs(lines) do
      local kind, a, b, c = line:match("^(%a)\t([^\t]*)\t?([^\t]*)\t?([^\t]*)$")
      if kind == "T" then
         taken_on = a
      elseif kind == "A" then
         auth = "Bearer " .. a
      elseif kind == "C" and tonumber(a) == tid then
         table.insert(classes, { course = b, ids = c, used = 0 })
      end
   end
   assert(taken_on and auth, "seed file lacks its T or A line")
   for _, class in ipairs(classes) do
      local quoted = {}
      for id in class.ids:gmatch("[^,]+") do table.insert(quoted, '"' .. id .. '"') end
      class.body = '{"courseId":"' .. class.course .. '","takenOn":"' .. taken_on .. '","enrollmentIds":['
         .. table.concat(quoted, ",") .. ']}'
   end
   health = wrk.format("GET", "/health")
end

function request()
   for _ = 1, #classes do
      turn = turn % #classes + 1
      local class = classes[turn]
      if class.used < sessions_per_class then
         class.used = class.used + 1
         n = n + 1
         sessions = sessions + 1
         return wrk.format("POST", "/v1/class-sessions", {
            ["Content-Type"] = "application/json",
            ["Authorization"] = auth,
            ["Idempotency-Key"] = string.format("attendance-%s-%d-%d", tag, tid, n),
         }, class.body)
      end
   end
   -- Every class has had its 60 sessions: keep the connection busy harmlessly; the run is reported invalid.
   exhausted = exhausted + 1
   return health
end

function response(status, headers, body)
   if status ~= 200 then
      non2xx = non2xx + 1
      if first_error == nil then first_error = status .. " " .. (body or ""):sub(1, 300):gsub("%s+", " ") end
      return
   end
   local r, f = body:match('"recorded":(%d+)'), body:match('"refused":(%d+)')
   if r then
      recorded = recorded + tonumber(r)
      refused = refused + tonumber(f)
   end
end

function done(summary, latency, requests)
   local totals = { sessions = 0, recorded = 0, refused = 0, exhausted = 0, non2xx = 0 }
   local first_error
   for _, t in ipairs(threads) do
      for k in pairs(totals) do totals[k] = totals[k] + (t:get(k) or 0) end
      first_error = first_error or t:get("first_error")
   end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f sessions_per_s=%.1f lessons_per_s=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f " ..
      "max_ms=%.2f non2xx=%d socket_errors=%d timeouts=%d sessions_issued=%d recorded=%d refused=%d exhausted=%d\n",
      summary.requests, seconds, summary.requests / seconds, totals.recorded / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
      totals.non2xx, e.connect + e.read + e.write, e.timeout, totals.sessions, totals.recorded, totals.refused,
      totals.exhausted))
   if first_error then io.write("FIRST_ERROR " .. first_error .. "\n") end
end
