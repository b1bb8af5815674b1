//! Typed access to a backend's settings (`list<tuple<string, string>>` in the WIT).

use crate::PluginError;

/// A backend's settings as the host resolved them. Blank values count as unset,
/// so a DAG file can clear a key with `key = ""`.
#[derive(Debug, Clone, Default)]
pub struct Settings(Vec<(String, String)>);

impl Settings {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Settings(pairs)
    }

    /// The value of `key`, trimmed; `None` when absent or blank. The last
    /// occurrence wins, as in a map built from the list.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// The value of `key`, or [`PluginError::Invalid`] naming the key.
    pub fn require(&self, key: &str) -> Result<&str, PluginError> {
        self.get(key)
            .ok_or_else(|| PluginError::Invalid(format!("the backend setting `{key}` is required")))
    }

    /// A boolean setting: true/false, yes/no, on/off, 1/0 (any case).
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(PluginError::Invalid(format!(
                "the backend setting `{key}` must be true or false, not {v:?}"
            ))),
        }
    }
}

impl From<Vec<(String, String)>> for Settings {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Settings(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::settings;

    #[test]
    fn blank_values_count_as_unset() {
        let s = settings(&[("a", "  "), ("b", " x ")]);
        assert_eq!(s.get("a"), None);
        assert_eq!(s.get("b"), Some("x"));
        assert_eq!(s.get_or("a", "d"), "d");
    }

    #[test]
    fn require_names_the_missing_key() {
        let err = settings(&[]).require("rest_url").unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid(m) if m.contains("`rest_url`")),
            "{err:?}"
        );
    }

    #[test]
    fn get_bool_accepts_common_spellings_and_refuses_others() {
        let s = settings(&[("a", "Yes"), ("b", "0"), ("c", "maybe")]);
        assert_eq!(s.get_bool("a", false), Ok(true));
        assert_eq!(s.get_bool("b", true), Ok(false));
        assert_eq!(s.get_bool("missing", true), Ok(true));
        assert!(matches!(
            s.get_bool("c", false),
            Err(PluginError::Invalid(_))
        ));
    }
}
