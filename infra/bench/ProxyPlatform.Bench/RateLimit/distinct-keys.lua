-- Every request carries a rate-limit key no other request has (X-Client: k<round>-<thread>-<n>, the
-- round being the first script argument), so each one asks the worker's limiter for a new bucket.
-- Each thread stops sending after its quota of answers (the second argument); wrk itself runs for its
-- whole -d, so RateLimitBenchmark runs it in short rounds. The report is one JSON line.
local threads = 0

setup = function(thread)
   thread:set("id", threads)
   threads = threads + 1
end

init = function(args)
   round = args[1]
   quota = tonumber(args[2])
   sent = 0
   answered = 0
end

request = function()
   sent = sent + 1
   return wrk.format(nil, nil, { ["X-Client"] = string.format("k%s-%d-%d", round, id, sent) })
end

response = function(status, headers, body)
   answered = answered + 1
   if answered >= quota then
      wrk.thread:stop()
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format('WRK-REPORT {"requests":%d,"durationUs":%d,"socketErrors":%d}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout))
end
