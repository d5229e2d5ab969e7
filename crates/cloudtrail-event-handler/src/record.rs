//! CloudTrail records, and a log file read one record at a time (pure: any `Read`).
//!
//! A log file is `{"Records":[…]}`, gzip. It is never held decompressed: the gzip stream
//! feeds serde_json, which hands over one record at a time, so memory is one record however
//! large the file.

use std::io::Read;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The most decompressed bytes read from one log file. CloudTrail files are far smaller;
/// the cap bounds the time a gzip bomb can take.
pub const MAX_DECOMPRESSED_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The fields of a CloudTrail record opswatch reads (every one optional: record shapes vary
/// by event version and service).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Record {
    pub event_time: String,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub read_only: Option<bool>,
    pub recipient_account_id: Option<String>,
    pub event_type: Option<String>,
    /// CloudTrail's id of the call (`eventID`, not camel case): what tells two calls of one
    /// principal in one second apart.
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    pub user_identity: UserIdentity,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    /// `MFAUsed`, `LoginTo`, … of console sign-ins.
    pub additional_event_data: Option<Value>,
    /// `"true"` when the call was made with credentials of a console session.
    pub session_credential_from_console: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub principal_id: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub user_name: Option<String>,
    pub invoked_by: Option<String>,
    pub session_context: Option<SessionContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionContext {
    pub session_issuer: Option<SessionIssuer>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionIssuer {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub user_name: Option<String>,
    pub arn: Option<String>,
}

impl Record {
    /// A console sign-in's result: `Success` or `Failure`.
    pub fn console_login_result(&self) -> Option<&str> {
        self.response_elements
            .as_ref()?
            .get("ConsoleLogin")?
            .as_str()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("the log file is not valid gzip JSON ({0})")]
    Json(String),
    #[error("the object is not a CloudTrail log file (not a JSON object with a \"Records\" array)")]
    NotLog,
    #[error("the log file decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLarge,
}

/// What reading a log file saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub records: usize,
    /// Records that were not CloudTrail records (logged, skipped).
    pub unreadable: usize,
    /// Decompressed bytes read.
    pub bytes: u64,
}

/// Read a log file (gzip or plain JSON), calling `each` for every record, in order, with the
/// record's JSON as it is in the file (custom rules read any path of it).
pub fn read_log(bytes: &[u8], each: impl FnMut(Record, &RawValue)) -> Result<Seen, LogError> {
    read_log_capped(bytes, MAX_DECOMPRESSED_BYTES, each)
}

/// [`read_log`] with another decompression cap (tests use a small one).
fn read_log_capped(
    bytes: &[u8],
    cap: u64,
    mut each: impl FnMut(Record, &RawValue),
) -> Result<Seen, LogError> {
    let counted = Counted {
        cap,
        inner: if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(bytes)) as Box<dyn Read>
        } else {
            Box::new(bytes)
        },
        n: 0,
    };
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, counted);
    let mut seen = Seen::default();
    // Not JSON at all (after gunzip): not a log file, as opposed to a damaged one.
    loop {
        let buf =
            std::io::BufRead::fill_buf(&mut reader).map_err(|e| LogError::Json(e.to_string()))?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) if buf[i] == b'{' => break,
            Some(_) => return Err(LogError::NotLog),
            None if buf.is_empty() => return Err(LogError::NotLog),
            None => {
                let n = buf.len();
                std::io::BufRead::consume(&mut reader, n);
            }
        }
    }
    let result = {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        let mut on_raw = |raw: Box<RawValue>| {
            seen.records += 1;
            match serde_json::from_str::<Record>(raw.get()) {
                Ok(r) => each(r, &raw),
                Err(e) => {
                    seen.unreadable += 1;
                    tracing::warn!(record = seen.records, error = %e, "not a CloudTrail record; skipped");
                }
            }
        };
        LogFile { each: &mut on_raw }
            .deserialize(&mut de)
            .and_then(|found| de.end().map(|()| found))
    };
    seen.bytes = reader.get_ref().n;
    if seen.bytes > cap {
        return Err(LogError::TooLarge);
    }
    match result {
        Ok(true) => Ok(seen),
        Ok(false) => Err(LogError::NotLog),
        Err(e) => Err(LogError::Json(e.to_string())),
    }
}

/// Counts what passes and stops past the cap.
struct Counted<R> {
    cap: u64,
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.n > self.cap {
            return Err(std::io::Error::other("decompression cap reached"));
        }
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// `{"Records": [ … ], …}`: each record goes to `each` as it is parsed; the value says
/// whether a `Records` array was there.
struct LogFile<'f, F: FnMut(Box<RawValue>)> {
    each: &'f mut F,
}

impl<'de, F: FnMut(Box<RawValue>)> DeserializeSeed<'de> for LogFile<'_, F> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Box<RawValue>)> Visitor<'de> for LogFile<'_, F> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CloudTrail log file object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" && !found {
                map.next_value_seed(Records {
                    each: &mut *self.each,
                })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Records<'f, F: FnMut(Box<RawValue>)> {
    each: &'f mut F,
}

impl<'de, F: FnMut(Box<RawValue>)> DeserializeSeed<'de> for Records<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Box<RawValue>)> Visitor<'de> for Records<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of CloudTrail records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            (self.each)(raw);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(s: &str) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(s.as_bytes()).unwrap();
        w.finish().unwrap()
    }

    fn names(bytes: &[u8]) -> Result<(Vec<String>, Seen), String> {
        let mut out = Vec::new();
        let seen = read_log(bytes, |r, _| out.push(r.event_name)).map_err(|e| e.to_string())?;
        Ok((out, seen))
    }

    #[test]
    fn records_in_order_gzip_or_plain() {
        let doc = r#"{"Records":[{"eventName":"A","readOnly":false},{"eventName":"B"},{"eventName":5},{"eventName":"C"}],"other":{"x":[1]}}"#;
        for bytes in [gz(doc), doc.as_bytes().to_vec()] {
            let (got, seen) = names(&bytes).unwrap();
            assert_eq!(got, ["A", "B", "C"]);
            assert_eq!((seen.records, seen.unreadable), (4, 1));
        }
    }

    #[test]
    fn bad_files_are_named() {
        assert!(
            names(&[0x1f, 0x8b, 8, 0, 1, 2, 3])
                .unwrap_err()
                .starts_with("the log file is not valid gzip JSON")
        );
        assert!(
            names(b"{\"Records\":[{\"eventName\":\"A\"},")
                .unwrap_err()
                .starts_with("the log file is not valid gzip JSON")
        );
        assert_eq!(
            names(b"{\"digest\":1}").unwrap_err(),
            LogError::NotLog.to_string()
        );
        assert_eq!(names(b"hello").unwrap_err(), LogError::NotLog.to_string());
        assert!(names(b"{\"Records\":[]} x").is_err());
    }

    #[test]
    fn identities() {
        let u: UserIdentity = serde_json::from_str(
            r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/alice@example.com",
                "sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"}}}"#,
        )
        .unwrap();
        let p = crate::principal::Principal::of_identity(&u);
        assert_eq!(
            (p.name.as_ref(), p.chosen),
            ("Admin", Some("alice@example.com"))
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(br#"{"Records":["#).unwrap();
        gz.write_all(&vec![b' '; 4 * 1024 * 1024]).unwrap();
        gz.write_all(b"]}").unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let r = read_log_capped(&bomb, 1024 * 1024, |_, _| {});
        assert!(matches!(r, Err(LogError::TooLarge)), "{r:?}");
        // Under the cap the same file is an empty, valid log.
        let under = read_log_capped(&bomb, 8 * 1024 * 1024, |_, _| {});
        assert!(matches!(under, Ok(Seen { records: 0, .. })), "{under:?}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256), text in "\\PC{0,64}") {
            let _ = read_log(&bytes, |_, _| {});
            let _ = read_log(text.as_bytes(), |_, _| {});
            let _ = read_log(&gz(&text), |_, _| {});
        }
    }
}
