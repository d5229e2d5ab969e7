//! Lists of names to match, as every setting of the suite writes them: comma-separated
//! entries, each an exact name or a prefix ending in `*` (`AWS::EC2::*`, `Describe*`,
//! `app_*`).
//!
//! One case rule for all of them: names compare **ignoring ASCII case**. AWS names are
//! case-sensitive, but no two of the names these lists hold (API calls, event sources,
//! resource types, account ids, database users, rule names) are told apart by case alone in
//! practice, while a setting typed `createtags` or an audit log that writes `RDSADMIN` are.

/// An exact-or-prefix pattern list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns(Vec<Pattern>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn new(p: &str) -> Self {
        let p = p.trim().to_ascii_lowercase();
        match p.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(p),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(p) => value.eq_ignore_ascii_case(p),
            Pattern::Prefix(p) => value
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
        }
    }

    fn as_text(&self) -> String {
        match self {
            Pattern::Exact(p) => p.clone(),
            Pattern::Prefix(p) => format!("{p}*"),
        }
    }
}

impl Patterns {
    /// A comma-separated list; blank entries are dropped.
    pub fn parse(list: &str) -> Self {
        Self::from_items(list.split(','))
    }

    /// Entries given one by one (a JSON array, say); blank entries are dropped.
    pub fn from_items<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Self {
        Self(
            items
                .into_iter()
                .filter(|p| !p.as_ref().trim().is_empty())
                .map(|p| Pattern::new(p.as_ref()))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any entry matches `value`.
    pub fn matches(&self, value: &str) -> bool {
        self.0.iter().any(|p| p.matches(value))
    }

    /// Whether an exact entry (not a prefix) names `value`.
    pub fn lists_exactly(&self, value: &str) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Pattern::Exact(e) if value.eq_ignore_ascii_case(e)))
    }

    /// The entries as written (lower case), for messages.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(Pattern::as_text).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &str, value: &str, expected: bool) {
        assert_eq!(
            Patterns::parse(list).matches(value),
            expected,
            "{list:?} ~ {value:?}"
        );
    }

    #[test]
    fn exact_prefix_and_case() {
        check("CreateTags", "CreateTags", true);
        check("createtags", "CreateTags", true);
        check("CreateTags", "CreateTagsNow", false);
        check("AWS::EC2::*", "AWS::EC2::SecurityGroup", true);
        check("aws::ec2::*", "AWS::EC2::SecurityGroup", true);
        check("AWS::EC2::*", "AWS::S3::Bucket", false);
        check("rdsadmin", "RDSADMIN", true);
        check(" a , ,b* ", "bee", true);
        check("", "anything", false);
        check("*", "anything", true);
        // A prefix longer than the value, and one that would cut a character in two.
        check("abcdef*", "abc", false);
        check("é*", "éa", true);
        check("ab*", "aé", false);
    }

    #[test]
    fn exact_entries_and_text() {
        let p = Patterns::parse("GetSessionToken, Describe*");
        assert!(p.lists_exactly("getsessiontoken"));
        assert!(!p.lists_exactly("DescribeInstances"));
        assert_eq!(p.entries(), ["getsessiontoken", "describe*"]);
        assert!(Patterns::from_items(["", " "]).is_empty());
    }
}
