//! CloudTrail records, and the reference reader of log files (pure).
//!
//! A log file is `{"Records":[…]}`, gzip. The function reads it with
//! [`crate::logfile::read_log`]; [`read_log_reference`] is the `serde_json` reader it
//! replaced, kept as its reference: the tests hold the fast reader to it, and the fast reader
//! hands it anything unusual. Neither holds the file decompressed.

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

/// The reference reader: a log file (gzip or plain JSON) streamed through `serde_json`, every
/// record kept as a `RawValue` and parsed in full, calling `each` for every record, in order,
/// with its text. [`crate::logfile::read_log`] reads the same files several times faster;
/// this one is what it is tested against, and what it hands anything unusual to.
pub fn read_log_reference(bytes: &[u8], each: impl FnMut(Record, &str)) -> Result<Seen, LogError> {
    read_log_reference_from(bytes, MAX_DECOMPRESSED_BYTES, 0, each)
}

/// [`read_log_reference`] with a decompression cap, handing over only the records from the
/// `from`th (0-based) on: those before were handed over by the fast reader, and are neither
/// parsed nor counted unreadable here. Errors are the file's, wherever they are.
pub(crate) fn read_log_reference_from(
    bytes: &[u8],
    cap: u64,
    from: usize,
    mut each: impl FnMut(Record, &str),
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
            if seen.records <= from {
                return;
            }
            match serde_json::from_str::<Record>(raw.get()) {
                Ok(r) => each(r, raw.get()),
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
}
