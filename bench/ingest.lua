-- wrk script for bench/ingest.py: unique, signed partner webhooks.
-- Each wrk thread replays its own file "<prefix><thread>.txt" of "<signature> <body>"
-- lines, one line per request. If a file runs out it starts over (the receiver then sees
-- duplicates) and "exhausted" says how often that happened, so the run can be refused.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  lines = {}
  for line in io.lines(args[1] .. id .. ".txt") do
    lines[#lines + 1] = line
  end
  sent = 0
  exhausted = 0
  duplicates = 0
end

function request()
  sent = sent + 1
  if sent > #lines then
    exhausted = exhausted + 1
  end
  local line = lines[((sent - 1) % #lines) + 1]
  local space = line:find(" ", 1, true)
  local headers = {
    ["Content-Type"] = "application/json",
    ["x-360dialog-signature"] = line:sub(1, space - 1),
  }
  return wrk.format("POST", nil, headers, line:sub(space + 1))
end

function response(status, headers, body)
  if status == 200 and body:find('"duplicate": true', 1, true) then
    duplicates = duplicates + 1
  end
end

function done(summary, latency, requests)
  local sent_total, exhausted_total, duplicates_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    exhausted_total = exhausted_total + thread:get("exhausted")
    duplicates_total = duplicates_total + thread:get("duplicates")
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us": %d, "responses": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"timeouts": %d, "sent": %d, "exhausted": %d, "duplicates": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.duration, summary.requests, errors.status,
    errors.connect + errors.read + errors.write, errors.timeout,
    sent_total, exhausted_total, duplicates_total,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
