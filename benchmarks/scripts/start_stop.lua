-- The start/stop cycle over instances <prefix>0 .. <prefix>N-1 (N =
-- per_thread x wrk threads), each request a POST
-- <services_path><instance>/start|stop.
--
--   wrk ... -s start_stop.lua <url> -- <prefix> <per_thread> [<services_path>]
--
-- services_path is "/services/" (the default), or "/nodes/<id>/services/"
-- for another node. Each wrk thread owns per_thread instances (one more than
-- its connections: wrk calls request() once, unsent, to check the script)
-- and keeps the idle ones in a FIFO queue. request() takes the instance at
-- the head and sends its next transition; response() finds the instance in
-- the reply ("service":name) and queues it with the other transition. So no
-- two requests are in flight for one instance, each one is a real
-- transition, and none is refused; "fallback" counts requests sent without
-- an idle instance (should stay 0). The instances must all be stopped
-- before a run.

local threads = {}
local next_thread = 0

-- In the main state, before each thread's init(): setup() gets no arguments,
-- so a thread only learns its index here.
function setup(thread)
  thread:set("index", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  per_thread = tonumber(args[2])
  services_path = args[3] or "/services/"
  if prefix == nil or per_thread == nil then
    error("usage: wrk ... -s start_stop.lua <url> -- <prefix> <per_thread> [<services_path>]")
  end
  first = index * per_thread
  queue, head, tail = {}, 1, 0
  in_flight = {}
  fallback, unmatched = 0, 0
  for i = 0, per_thread - 1 do
    tail = tail + 1
    queue[tail] = { name = prefix .. (first + i), op = "start" }
  end
end

function request()
  local item
  if head <= tail then
    item = queue[head]
    queue[head] = nil
    head = head + 1
  else
    fallback = fallback + 1
    item = { name = prefix .. first, op = "stop" }
  end
  in_flight[item.name] = item.op
  return wrk.format("POST", services_path .. item.name .. "/" .. item.op,
                    { ["Content-Type"] = "application/json" }, "")
end

function response(status, headers, body)
  local name = string.match(body, '"service":"([^"]+)"') or
               string.match(body, "Service ([%w_.%-]+) ")
  local op = name and in_flight[name]
  if op then
    in_flight[name] = nil
    tail = tail + 1
    queue[tail] = { name = name, op = (op == "start") and "stop" or "start" }
  else
    unmatched = unmatched + 1
  end
end

function done(summary, latency, requests)
  local fallback_total, unmatched_total = 0, 0
  for _, thread in ipairs(threads) do
    fallback_total = fallback_total + thread:get("fallback")
    unmatched_total = unmatched_total + thread:get("unmatched")
  end
  io.write(string.format("script: fallback %d, unmatched %d\n", fallback_total, unmatched_total))
end
