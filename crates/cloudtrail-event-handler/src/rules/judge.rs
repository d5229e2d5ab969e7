//! The order in which the rules apply, and what an event gets (pure).
//!
//! For each record:
//! 1. An AWS service event (`eventType: AwsServiceEvent`) is not a call anyone made: no
//!    rule judges it.
//! 2. The built-in rules are judged. A read-only call is judged only by the rules that look
//!    at reads (`root-activity`, `access-denied`, `secret-read-burst`); most of a trail is
//!    reads no rule looks at, dropped here.
//! 3. **When a critical built-in rule matched, the event is alerted** — whatever the
//!    include/exclude lists, `ALERT_ONLY`, `MIN_SEVERITY`, the read-only filter or an
//!    ignore rule say — unless every critical rule it matched is named in the `silences`
//!    of an ignore rule that matches it. `DISABLE_RULES` is the other way to silence one.
//!    The verdict notes what would otherwise have dropped it ([`Verdict::kept`]).
//! 4. Otherwise, in order: an ignore rule drops what it matches; the filter's lists
//!    ([`Filter::lists`]); secret reads are counted per principal ([`Judge`]: one per log
//!    file); a read-only call nothing matched is dropped; `MIN_SEVERITY` drops what is
//!    below it.

use std::collections::{BTreeMap, BTreeSet};

use opswatch_delivery::Severity;
use serde_json::Value;

use super::builtin::{self, ACCESS_DENIED, ROOT_ACTIVITY, SECRET_READ_BURST, Test};
use super::{Custom, Rules};
use crate::filter::{Drop, Filter};
use crate::logfile::Skim;
use crate::principal::Principal;
use crate::record::Record;

/// What an event matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'r> {
    pub severity: Severity,
    /// Most serious first; the first is the one routes see.
    pub rules: Vec<&'r str>,
    /// Lines of one principal that fold into one ([`crate::render::Digest`]).
    pub fold: Option<Fold>,
    /// What would have dropped the event had no critical rule matched it.
    pub kept: Option<Dropped<'r>>,
}

/// How an event's line folds with its principal's others in one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fold {
    /// Access denials and nothing more serious.
    Denied,
    /// The root user's read-only calls.
    RootReads,
    /// Secrets read past the threshold: how many distinct ones so far.
    SecretReads(usize),
}

impl<'r> Verdict<'r> {
    fn new() -> Self {
        Self {
            severity: Severity::Info,
            rules: Vec::new(),
            fold: None,
            kept: None,
        }
    }

    fn add(&mut self, rule: &'r str, severity: Severity, weights: &mut Vec<Severity>) {
        let at = weights
            .iter()
            .position(|w| *w < severity)
            .unwrap_or(weights.len());
        self.rules.insert(at, rule);
        weights.insert(at, severity);
        self.severity = self.severity.max(severity);
    }

    /// The rule routes match on.
    pub fn rule(&self) -> Option<&'r str> {
        self.rules.first().copied()
    }
}

/// Why an event was dropped, the ignore rule that dropped it, and the critical rules that
/// rule silenced by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<'r> {
    pub why: Drop,
    pub rule: Option<&'r str>,
    pub silenced: Vec<&'r str>,
}

impl Dropped<'_> {
    fn because(why: Drop) -> Self {
        Self {
            why,
            rule: None,
            silenced: Vec::new(),
        }
    }
}

/// Records judged one after another, as a log file holds them: secret reads are counted
/// per principal across the file.
pub struct Judge<'r, 'f> {
    rules: &'r Rules,
    filter: &'f Filter,
    /// Principal key → the secrets it read (by id), and reads counted in bulk.
    secret_reads: BTreeMap<String, (BTreeSet<String>, usize)>,
}

impl Rules {
    /// One event alone (an EventBridge event): [`Judge::judge`] with nothing counted before.
    pub fn judge<'r>(
        &'r self,
        filter: &Filter,
        r: &Record,
        doc: Option<&Value>,
    ) -> Result<Verdict<'r>, Dropped<'r>> {
        self.reading(filter).judge(r, doc)
    }

    /// A judge for the records of one log file.
    pub fn reading<'r, 'f>(&'r self, filter: &'f Filter) -> Judge<'r, 'f> {
        Judge {
            rules: self,
            filter,
            secret_reads: BTreeMap::new(),
        }
    }
}

impl Rules {
    /// What [`Judge::judge`] would say of a record known only by its skim, where that does
    /// not depend on the rest of it: an AWS service event, or a read-only call that no rule
    /// looks at. `None`: the record needs its full parse and judgement.
    ///
    /// The built-in rules that judge reads look only at the identity's type
    /// (`root-activity`), the error code (`access-denied`) and, for the calls that may read a
    /// secret, the parameters (`secret-read-burst`); custom rules may look at anything.
    /// (`the_sieve_knows_every_rule_that_judges_reads` holds this list to [`BUILTINS`].)
    ///
    /// [`BUILTINS`]: super::BUILTINS
    pub fn sieve(&self, filter: &Filter, s: &Skim) -> Option<Drop> {
        if s.event_type == Some("AwsServiceEvent") {
            return Some(Drop::ServiceEvent);
        }
        let maybe_judged = !self.custom.is_empty()
            || s.identity_type == Some("Root")
            || s.error_code
            || (self.secret_reads.is_some()
                && builtin::may_read_secret(s.event_source, s.event_name));
        (!maybe_judged && filter.read_only_call(s.read_only, s.event_name))
            .then_some(Drop::ReadOnly)
    }
}

impl<'r> Judge<'r, '_> {
    /// Whether an event gets an alert, and with what weight. `doc` is the record as JSON;
    /// it is needed only where [`Rules::needs_document`] says so.
    pub fn judge(&mut self, r: &Record, doc: Option<&Value>) -> Result<Verdict<'r>, Dropped<'r>> {
        let rules = self.rules;
        if r.event_type.as_deref() == Some("AwsServiceEvent") {
            return Err(Dropped::because(Drop::ServiceEvent));
        }
        let read_only = self.filter.read_only(r);
        let mut v = Verdict::new();
        let mut weights = Vec::new();
        let mut critical = Vec::new();
        for b in &rules.builtins {
            if let Test::Event(test) = b.test
                && (b.reads || !read_only)
                && let Some(s) = test(r, &rules.context)
            {
                v.add(b.name, s, &mut weights);
                if s == Severity::Critical {
                    critical.push(b.name);
                }
            }
        }
        if read_only
            && v.rules.is_empty()
            && rules.custom.is_empty()
            && !(rules.secret_reads.is_some() && builtin::secret_read(r).is_some())
        {
            return Err(Dropped::because(Drop::ReadOnly));
        }
        let matching = |list: &'r [Custom]| -> Vec<&'r Custom> {
            doc.map(|d| list.iter().filter(|c| c.matches(d)).collect())
                .unwrap_or_default()
        };
        let ignored = matching(&rules.ignore);

        if !critical.is_empty() {
            let silencer = |rule: &str| ignored.iter().find(|c| c.silences(rule));
            if let Some(by) = critical
                .iter()
                .map(|c| silencer(c))
                .collect::<Option<Vec<_>>>()
            {
                return Err(Dropped {
                    why: Drop::Ignored,
                    rule: by.first().map(|c| c.name.as_str()),
                    silenced: critical,
                });
            }
            for c in matching(&rules.custom) {
                v.add(&c.name, c.severity, &mut weights);
            }
            v.kept = match ignored.first() {
                Some(c) => Some(Dropped {
                    why: Drop::Ignored,
                    rule: Some(&c.name),
                    silenced: Vec::new(),
                }),
                None => self.filter.lists(r).err().map(Dropped::because),
            }
            .or_else(|| {
                (read_only && v.rules == [ROOT_ACTIVITY]).then(|| Dropped::because(Drop::ReadOnly))
            });
            if read_only && v.rules == [ROOT_ACTIVITY] {
                v.fold = Some(Fold::RootReads);
            }
            return Ok(v);
        }

        if let Some(c) = ignored.first() {
            return Err(Dropped {
                why: Drop::Ignored,
                rule: Some(&c.name),
                silenced: Vec::new(),
            });
        }
        self.filter.lists(r).map_err(Dropped::because)?;
        for c in matching(&rules.custom) {
            v.add(&c.name, c.severity, &mut weights);
        }
        if let Some(threshold) = rules.secret_reads
            && r.error_code.is_none()
            && let Some(read) = builtin::secret_read(r)
        {
            let (ids, bulk) = self.secret_reads.entry(Principal::of(r).key()).or_default();
            ids.extend(read.ids);
            *bulk += read.bulk;
            let so_far = ids.len() + *bulk;
            if so_far >= threshold {
                v.add(SECRET_READ_BURST, Severity::Warning, &mut weights);
                if v.rules == [SECRET_READ_BURST] {
                    v.fold = Some(Fold::SecretReads(so_far));
                }
            }
        }
        if read_only && v.rules.is_empty() {
            return Err(Dropped::because(Drop::ReadOnly));
        }
        if v.severity < rules.min_severity {
            return Err(Dropped::because(Drop::BelowMinimum));
        }
        if v.rules == [ACCESS_DENIED] {
            v.fold = Some(Fold::Denied);
        }
        Ok(v)
    }
}
