-- wrk script for `tools/bench api`: the money path.
-- Arguments (after `--`): <seed file from seed.py> <payment every N requests> <run tag>
-- Each wrk thread reads only its own enrollments (the seed file assigns them by thread id), and in its
-- request sequence sends one guardian payment (an unpaid enrollment, paid in full) for every N-1
-- institution lesson records (1 lesson, round-robin over its paid enrollments, never past 60 each).
-- Every request carries a fresh Idempotency-Key, so each one moves money. Non-2xx responses are counted.

local threads = {}
local next_tid = 1

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- Thread state below (each wrk thread has its own Lua state).
local pay, lesson = {}, {}
local lesson_cap = 0
local every, tag, taken_on
local n, pay_next, lessons_issued = 0, 1, 0
payments, lessons, exhausted, non2xx = 0, 0, 0, 0
statuses, first_error = "", nil
local by_status = {}

function init(args)
   local file = assert(args[1], "seed file argument missing")
   every = tonumber(args[2] or "5")
   tag = args[3] or "run"
   local min_lessons
   for line in io.lines(file) do
      local kind, a, b, c, d = line:match("^(%a)\t([^\t]*)\t?([^\t]*)\t?([^\t]*)\t?([^\t]*)$")
      if kind == "T" then
         taken_on = a
      elseif tonumber(a) == tid then
         if kind == "L" then
            table.insert(lesson, { path = "/v1/enrollments/" .. b .. "/lessons", auth = "Bearer " .. c })
            local bought = tonumber(d)
            if min_lessons == nil or bought < min_lessons then min_lessons = bought end
         elseif kind == "P" then
            table.insert(pay, { path = "/v1/enrollments/" .. b .. "/payments", auth = "Bearer " .. c,
                                body = '{"amountFen":' .. d .. '}' })
         end
      end
   end
   assert(taken_on, "seed file has no T line")
   lesson_cap = #lesson * (min_lessons or 0)   -- round-robin: each enrollment gets at most min_lessons
   lesson_body = '{"lessons":1,"takenOn":"' .. taken_on .. '"}'
   health = wrk.format("GET", "/health")
end

local function post(path, auth, body)
   n = n + 1
   return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = auth,
      ["Idempotency-Key"] = string.format("bench-%s-%d-%d", tag, tid, n),
   }, body)
end

local function payment()
   local e = pay[pay_next]
   pay_next = pay_next + 1
   payments = payments + 1
   return post(e.path, e.auth, e.body)
end

local function record_lesson()
   local e = lesson[lessons_issued % #lesson + 1]
   lessons_issued = lessons_issued + 1
   lessons = lessons + 1
   return post(e.path, e.auth, lesson_body)
end

function request()
   local want_payment = (n % every) == 0
   local can_pay, can_record = pay_next <= #pay, lessons_issued < lesson_cap
   if (want_payment and can_pay) or (can_pay and not can_record) then
      if not want_payment then exhausted = exhausted + 1 end
      return payment()
   elseif can_record then
      if want_payment then exhausted = exhausted + 1 end
      return record_lesson()
   end
   -- Both pools used up: keep the connection busy with something harmless; the run is reported invalid.
   exhausted = exhausted + 1
   n = n + 1
   return health
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      by_status[status] = (by_status[status] or 0) + 1
      local parts = {}
      for code, count in pairs(by_status) do table.insert(parts, code .. "x" .. count) end
      statuses = table.concat(parts, ",")
      if first_error == nil then first_error = status .. " " .. (body or ""):sub(1, 300):gsub("%s+", " ") end
   end
end

function done(summary, latency, requests)
   local totals = { payments = 0, lessons = 0, exhausted = 0, non2xx = 0 }
   local counts, first_error = {}, nil
   for _, t in ipairs(threads) do
      for k in pairs(totals) do totals[k] = totals[k] + (t:get(k) or 0) end
      for code, count in (t:get("statuses") or ""):gmatch("(%d+)x(%d+)") do
         counts[code] = (counts[code] or 0) + tonumber(count)
      end
      first_error = first_error or t:get("first_error")
   end
   local statuses = {}
   for code, count in pairs(counts) do table.insert(statuses, code .. "x" .. count) end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f " ..
      "non2xx=%d socket_errors=%d timeouts=%d payments_issued=%d lessons_issued=%d exhausted=%d statuses=%s\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, latency.mean / 1000,
      totals.non2xx, e.connect + e.read + e.write, e.timeout,
      totals.payments, totals.lessons, totals.exhausted, table.concat(statuses, ",")))
   if first_error then io.write("FIRST_ERROR " .. first_error .. "\n") end
end
