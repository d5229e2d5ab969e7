//! S3 objects the `events/` samples refer to, as the AWS service would have written them.

use std::io::Write;
use std::path::Path;

/// The bucket the CloudTrail samples name.
pub const CLOUDTRAIL_BUCKET: &str = "opswatch-trail-logs";
/// Where CloudTrail writes a trail's log files for the samples' account, region and day.
pub const CLOUDTRAIL_PREFIX: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/";

/// `events/cloudtrail/s3-objects/<name>.json` as CloudTrail delivers it:
/// `(bucket, key ending .json.gz, gzip bytes)`, the trail's files first, then those of an
/// organization trail (`s3-objects/o-…/<name>.json`, written under
/// `AWSLogs/o-…/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`, the account, region and
/// day taken from the file name as CloudTrail names its files).
pub fn cloudtrail_log_files(root: &Path) -> std::io::Result<Vec<(String, String, Vec<u8>)>> {
    let dir = root.join("events/cloudtrail/s3-objects");
    let mut out = Vec::new();
    let json_in = |dir: &Path| -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        Ok(paths)
    };
    let name_of = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned()
    };
    for path in json_in(&dir)? {
        let name = name_of(&path);
        out.push((
            CLOUDTRAIL_BUCKET.to_owned(),
            format!("{CLOUDTRAIL_PREFIX}{name}.gz"),
            gzip(&std::fs::read(&path)?)?,
        ));
    }
    let mut orgs: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && name_of(p).starts_with("o-"))
        .collect();
    orgs.sort();
    for org in orgs {
        for path in json_in(&org)? {
            let name = name_of(&path);
            // <account>_CloudTrail_<region>_<yyyymmdd>T<hhmm>Z_<unique>.json
            let parts: Vec<&str> = name.split('_').collect();
            let (Some(account), Some(region), Some(day)) = (
                parts.first(),
                parts.get(2),
                parts.get(3).and_then(|t| t.get(..8)),
            ) else {
                return Err(std::io::Error::other(format!(
                    "{name}: not <account>_CloudTrail_<region>_<yyyymmdd>T<hhmm>Z_<unique>.json"
                )));
            };
            out.push((
                CLOUDTRAIL_BUCKET.to_owned(),
                format!(
                    "AWSLogs/{}/{account}/CloudTrail/{region}/{}/{}/{}/{name}.gz",
                    name_of(&org),
                    &day[..4],
                    &day[4..6],
                    &day[6..8]
                ),
                gzip(&std::fs::read(&path)?)?,
            ));
        }
    }
    Ok(out)
}

pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes)?;
    gz.finish()
}
