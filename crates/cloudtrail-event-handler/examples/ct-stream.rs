//! The log-file hot path, for `cargo xtask bench cloudtrail`:
//!
//! ct-stream generate <out.json.gz> <MB>   a CloudTrail log file of at least MB of JSON
//! ct-stream read <file.json.gz>           read it as the function does (stream, filter,
//!                                         rules, render); print one JSON line of figures

use std::io::Write;
use std::time::Instant;

use opswatch_cloudtrail_event_handler::filter::Filter;
use opswatch_cloudtrail_event_handler::record::read_log;
use opswatch_cloudtrail_event_handler::render::Digest;
use opswatch_cloudtrail_event_handler::rules::Rules;
use serde_json::json;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate", out, mb] => generate(out, mb.parse().map_err(|e| format!("{mb}: {e}"))?),
        ["read", file] => read(file),
        _ => Err("usage: ct-stream generate <out> <MB> | ct-stream read <file>".into()),
    }
}

fn generate(out: &str, mb: u64) -> Result<(), String> {
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::new(6));
    let reads = [
        "DescribeInstances",
        "GetObject",
        "ListBuckets",
        "DescribeDBClusters",
        "GetRole",
        "LookupEvents",
        "Decrypt",
        "HeadObject",
    ];
    let writes = [
        "RunInstances",
        "PutObjectAcl",
        "AuthorizeSecurityGroupIngress",
        "CreateRoute",
        "PutRolePolicy",
        "ModifyDBCluster",
    ];
    let mut written: u64 = 0;
    let mut n: u64 = 0;
    gz.write_all(b"{\"Records\":[").map_err(|e| e.to_string())?;
    while written < mb * 1_000_000 {
        let write = n.is_multiple_of(5);
        let name = if write {
            writes[(n / 5) as usize % writes.len()]
        } else {
            reads[n as usize % reads.len()]
        };
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "principalId": format!("AROAEXAMPLE{:06}:session-{}", n % 97, n % 13),
                "arn": format!("arn:aws:sts::111122223333:assumed-role/app-{}/session-{}", n % 7, n % 13),
                "accountId": "111122223333", "accessKeyId": format!("ASIAEXAMPLE{:08}", n % 1000),
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": format!("arn:aws:iam::111122223333:role/app-{}", n % 7),
                    "accountId": "111122223333", "userName": format!("app-{}", n % 7)},
                    "attributes": {"creationDate": "2026-11-25T08:00:00Z", "mfaAuthenticated": "false"}}},
            "eventTime": format!("2026-11-25T09:{:02}:{:02}Z", (n / 60) % 60, n % 60),
            "eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": format!("10.0.{}.{}", n % 256, (n / 256) % 256),
            "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#arm64 api/ec2#1.170.0",
            "requestParameters": {"instancesSet": {"items": [{"instanceId": format!("i-{:017x}", n)}]}, "filterSet": {}, "maxResults": 1000},
            "responseElements": null,
            "requestID": format!("{:08x}-1111-2222-3333-{:012x}", n, n * 7),
            "eventID": format!("{:08x}-aaaa-bbbb-cccc-{:012x}", n * 3, n),
            "readOnly": !write, "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": "111122223333", "eventCategory": "Management",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "ec2.us-east-1.amazonaws.com"}
        });
        let text = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        if n > 0 {
            gz.write_all(b",").map_err(|e| e.to_string())?;
        }
        gz.write_all(&text).map_err(|e| e.to_string())?;
        written += text.len() as u64 + 1;
        n += 1;
    }
    gz.write_all(b"]}").map_err(|e| e.to_string())?;
    gz.finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "ct-stream: wrote {out}: {n} records, {:.1} MB of JSON",
        written as f64 / 1e6
    );
    Ok(())
}

fn read(file: &str) -> Result<(), String> {
    let started = Instant::now();
    // As the function: the compressed object in memory, the JSON streamed.
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let filter = Filter::default();
    let rules = Rules::default();
    let mut digest = Digest::default();
    let mut alerted = 0usize;
    // One judge per file, as the function (secret reads are counted across it).
    let mut judge = rules.reading(&filter);
    let seen = read_log(&bytes, |r, _| {
        if let Ok(verdict) = judge.judge(&r, None) {
            alerted += 1;
            digest.add(&r, &verdict, &filter.account_names);
        }
    })
    .map_err(|e| e.to_string())?;
    let messages = digest.into_alert(Some(file)).into_messages().len();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bytes": seen.bytes, "records": seen.records, "alerted": alerted, "messages": messages,
               "secs": secs, "peak_rss_kb": peak_rss_kb()})
    );
    Ok(())
}

/// The process's peak resident set (VmHWM), in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
