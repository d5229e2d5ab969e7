//! Names people know their AWS accounts by: `ACCOUNT_NAMES=111122223333=prod,444455556666=staging`,
//! shown beside the twelve-digit ids in alerts and matched by account lists.

use std::collections::BTreeMap;

/// Account id → name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountNames(BTreeMap<String, String>);

impl AccountNames {
    /// `id=name` pairs, comma-separated; blank entries are skipped. An entry that is not a
    /// twelve-digit id, an `=` and a name is an error naming it.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut names = BTreeMap::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, name) = entry
                .split_once('=')
                .map(|(i, n)| (i.trim(), n.trim()))
                .filter(|(i, n)| {
                    i.len() == 12 && i.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty()
                })
                .ok_or_else(|| {
                    format!(
                        "{entry:?} is not <12-digit account id>=<name> (e.g. 111122223333=prod)"
                    )
                })?;
            names.insert(id.to_owned(), name.to_owned());
        }
        Ok(Self(names))
    }

    /// From (id, name) pairs, as Organizations lists them; unnamed accounts are left out.
    pub fn from_pairs<I, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, S)>,
        S: Into<String>,
    {
        Self(
            pairs
                .into_iter()
                .map(|(i, n)| (i.into(), n.into()))
                .filter(|(_, n)| !n.trim().is_empty())
                .collect(),
        )
    }

    /// These names, and `other`'s for the accounts this list does not name.
    pub fn or(mut self, other: &AccountNames) -> Self {
        for (id, name) in &other.0 {
            self.0.entry(id.clone()).or_insert_with(|| name.clone());
        }
        self
    }

    pub fn name(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// `111122223333 (prod)`, or the id alone when it has no name.
    pub fn label(&self, id: &str) -> String {
        match self.name(id) {
            Some(name) => format!("{id} ({name})"),
            None => id.to_owned(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The account ids that have a name.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_labels_and_errors() {
        let n = AccountNames::parse(" 111122223333=prod , 444455556666 = staging,").unwrap();
        assert_eq!(n.label("111122223333"), "111122223333 (prod)");
        assert_eq!(n.label("444455556666"), "444455556666 (staging)");
        assert_eq!(n.label("777788889999"), "777788889999");
        assert!(AccountNames::parse("").unwrap().is_empty());
        for bad in ["prod", "1111=prod", "111122223333=", "11112222333x=prod"] {
            let e = AccountNames::parse(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("12-digit"), "{e}");
        }
    }
}
