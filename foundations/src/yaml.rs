//! Strict YAML 1.2 loading shared by every config and scenario file in the workspace.
//!
//! All YAML goes through [`from_str`]: booleans are only `true`/`false` (so `off`, `on`,
//! `yes`, `no` stay strings), numbers with leading zeros stay strings, duplicate keys are
//! errors, and every error names `origin:line:column`.

use serde::de::DeserializeOwned;
use std::fmt;

/// A YAML error with the place it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// File name (or another label such as `<env>` or `<inline>`).
    pub origin: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What went wrong, without the location prefix.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.origin, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.origin, self.message)
        }
    }
}

impl std::error::Error for YamlError {}

/// The options every YAML document in authproof is parsed with.
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// Parse `text` (from `origin`) into `T` with the strict options.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| convert(&e, origin))
}

/// Read and parse a file; I/O errors carry the path too.
pub fn from_file<T: DeserializeOwned>(path: &std::path::Path) -> Result<T, YamlError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| YamlError {
        origin: origin.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read file: {e}"),
    })?;
    from_str(&text, &origin)
}

fn convert(e: &serde_saphyr::Error, origin: &str) -> YamlError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.without_snippet().to_string();
    // serde-saphyr prefixes "error: line L column C: "; we print our own location.
    if let Some(rest) = message.strip_prefix("error: ") {
        message = rest.to_string();
    }
    let prefix = format!("line {line} column {column}: ");
    if let Some(rest) = message.strip_prefix(&prefix) {
        message = rest.to_string();
    }
    YamlError {
        origin: origin.to_string(),
        line,
        column,
        message: message.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        flag: Option<serde_json::Value>,
    }

    #[test]
    fn off_stays_a_string() {
        let s: Sample = from_str("name: x\nflag: off\n", "t.yaml").unwrap();
        assert_eq!(s.flag, Some(serde_json::json!("off")));
        let v: serde_json::Value = from_str("a: yes\nb: true\nc: 0755\n", "t.yaml").unwrap();
        assert_eq!(v, serde_json::json!({"a": "yes", "b": true, "c": "0755"}));
    }

    #[test]
    fn unknown_field_has_line_and_column() {
        let e = from_str::<Sample>("name: x\nnmae: y\n", "t.yaml").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.to_string().starts_with("t.yaml:2:1: "), "{e}");
        assert!(e.message.contains("nmae"), "{e}");
    }
}
