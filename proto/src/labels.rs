//! Free-form key/value labels attached to tasks, frameworks and statuses.

use serde::{Deserialize, Serialize};

/// One label. Mesos allows a label without a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    /// Label key.
    pub key: String,
    /// Optional label value.
    #[serde(default)]
    pub value: Option<String>,
}

/// An ordered list of labels (keys may repeat, as in Mesos).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(pub Vec<Label>);

impl Labels {
    /// No labels.
    pub const fn new() -> Self {
        Labels(Vec::new())
    }

    /// Appends `key=value`, returning `self` for chaining.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push(Label {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// The value of the first label with `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|l| l.key == key)
            .and_then(|l| l.value.as_deref())
    }

    /// True if there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the labels in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Labels(
            iter.into_iter()
                .map(|(k, v)| Label {
                    key: k.into(),
                    value: Some(v.into()),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_serde() {
        let l = Labels::new().with("env", "prod").with("env", "dev");
        assert_eq!(l.get("env"), Some("prod"));
        assert_eq!(l.get("x"), None);
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(
            json,
            r#"[{"key":"env","value":"prod"},{"key":"env","value":"dev"}]"#
        );
        let back: Labels = serde_json::from_str(r#"[{"key":"a"}]"#).unwrap();
        assert_eq!(back.0[0].value, None);
    }
}
