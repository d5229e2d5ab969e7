#!/usr/bin/env python3
"""Baseline for `cargo xtask bench cloudtrail`: the usual Python way to read a CloudTrail log
file (gzip + json.load of the whole file), then the same read-only filter. Prints one JSON line."""
import gzip, json, resource, sys, time

READ_ONLY = ("Describe", "Get", "List", "Head", "Lookup")

t0 = time.perf_counter()
with gzip.open(sys.argv[1]) as f:
    records = json.load(f)["Records"]
alerted = [r for r in records
           if not (r.get("readOnly") is True or r.get("eventName", "").startswith(READ_ONLY))
           and r.get("eventType") != "AwsServiceEvent"]
secs = time.perf_counter() - t0
print(json.dumps({"records": len(records), "alerted": len(alerted), "secs": secs,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
