-- wrk's end-of-run report as one JSON line (latencies in microseconds), for WrkLoad to read.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK-REPORT {"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d,"p50Us":%d,"p99Us":%d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
