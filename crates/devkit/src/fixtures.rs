//! S3 objects the `events/` samples refer to, as the AWS service would have written them.

use std::io::Write;
use std::path::Path;

/// The bucket the CloudTrail samples name.
pub const CLOUDTRAIL_BUCKET: &str = "opswatch-trail-logs";
/// Where CloudTrail writes a trail's log files for the samples' account, region and day.
pub const CLOUDTRAIL_PREFIX: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/";

/// `events/cloudtrail/s3-objects/<name>.json` as CloudTrail delivers it:
/// `(bucket, key ending .json.gz, gzip bytes)`.
pub fn cloudtrail_log_files(root: &Path) -> std::io::Result<Vec<(String, String, Vec<u8>)>> {
    let dir = root.join("events/cloudtrail/s3-objects");
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        out.push((
            CLOUDTRAIL_BUCKET.to_owned(),
            format!("{CLOUDTRAIL_PREFIX}{name}.gz"),
            gzip(&std::fs::read(&path)?)?,
        ));
    }
    Ok(out)
}

pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes)?;
    gz.finish()
}
