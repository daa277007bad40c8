//! `AUTHPROOF_*` environment overrides applied to the parsed YAML tree.

use super::ConfigError;
use serde_json::Value;

/// The prefix of every override variable.
pub const ENV_PREFIX: &str = "AUTHPROOF_";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Bool,
    /// A JSON list (or `null` for list-or-absent keys).
    List,
    /// A JSON object of strings.
    Map,
}

/// Every overridable key path and how its value is written.
const KEYS: &[(&str, Kind)] = &[
    ("provider", Kind::Str),
    ("base_url", Kind::Str),
    ("issuer_url", Kind::Str),
    ("mcp_path", Kind::Str),
    ("redirect_path", Kind::Str),
    ("allowed_client_redirect_uris", Kind::List),
    ("valid_scopes", Kind::List),
    ("required_scopes", Kind::List),
    ("consent", Kind::Str),
    ("jwt_signing_key", Kind::Str),
    ("access_token_ttl", Kind::Str),
    ("refresh_token_ttl", Kind::Str),
    ("refresh_grace_window", Kind::Str),
    ("code_ttl", Kind::Str),
    ("transaction_ttl", Kind::Str),
    ("client_ttl", Kind::Str),
    ("backend", Kind::Str),
    ("storage", Kind::Str),
    ("storage_key", Kind::Str),
    ("storage_previous_keys", Kind::List),
    ("cimd_enabled", Kind::Bool),
    ("cimd_allow_http_loopback", Kind::Bool),
    ("outbound_ca_file", Kind::Str),
    ("upstream.config_url", Kind::Str),
    ("upstream.authorization_endpoint", Kind::Str),
    ("upstream.token_endpoint", Kind::Str),
    ("upstream.revocation_endpoint", Kind::Str),
    ("upstream.client_id", Kind::Str),
    ("upstream.client_secret", Kind::Str),
    ("upstream.token_endpoint_auth_method", Kind::Str),
    ("upstream.scopes", Kind::List),
    ("upstream.extra_authorize_params", Kind::Map),
    ("upstream.extra_token_params", Kind::Map),
    ("upstream.forward_resource", Kind::Bool),
    ("upstream.timeout", Kind::Str),
    ("upstream.expiry_threshold", Kind::Str),
    ("upstream.domain", Kind::Str),
    ("upstream.tenant", Kind::Str),
    ("upstream.strict", Kind::Bool),
    ("upstream.audience", Kind::Str),
    ("upstream.jwks_uri", Kind::Str),
    ("upstream.userinfo_endpoint", Kind::Str),
    ("upstream.introspection_endpoint", Kind::Str),
    ("upstream.verifier.kind", Kind::Str),
    ("upstream.verifier.algorithms", Kind::List),
    ("upstream.verifier.issuer", Kind::Str),
    ("upstream.verifier.audience", Kind::Str),
    ("upstream.verifier.required_scopes", Kind::List),
    ("upstream.verifier.cache_ttl", Kind::Str),
];

/// Every overridable key path (dotted), for documentation and tools.
pub fn env_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(k, _)| *k)
}

/// Top-level names that have sub-keys.
const SECTIONS: &[&str] = &["upstream"];

/// Whether `storage` is set by the environment or by the file's parsed YAML `tree` (an empty
/// `AUTHPROOF_STORAGE` removes the key, so it does not count).
pub fn storage_is_set_in(tree: &Value, vars: impl IntoIterator<Item = (String, String)>) -> bool {
    let var = format!("{ENV_PREFIX}STORAGE");
    if let Some((_, v)) = vars.into_iter().find(|(k, _)| *k == var) {
        return !v.is_empty();
    }
    tree.get("storage").is_some_and(|s| !s.is_null())
}

/// Apply every `AUTHPROOF_*` variable in `vars` to `tree`. Returns how many were applied.
///
/// A variable whose first path segment is not a configuration key is ignored (other tools
/// may share the prefix, e.g. `AUTHPROOF_LOG`); an unknown key inside a known section
/// (`AUTHPROOF_UPSTREAM__CLIENT_SECRT`) is an error.
pub fn apply_env(
    tree: &mut Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<usize, ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    let mut applied = 0;
    for (var, raw) in vars {
        let path: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let dotted = path.join(".");
        let Some(kind) = KEYS.iter().find(|(k, _)| *k == dotted).map(|(_, k)| *k) else {
            let top = path.first().map(String::as_str).unwrap_or("");
            if SECTIONS.contains(&top) || KEYS.iter().any(|(k, _)| *k == top) {
                return Err(ConfigError::Env {
                    var,
                    message: format!("unknown configuration key {dotted}"),
                });
            }
            tracing::debug!(%var, "ignoring variable: not a configuration key");
            continue;
        };
        let value = if raw.is_empty() {
            None
        } else {
            Some(convert(kind, &raw).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?)
        };
        set_path(tree, &path, value).map_err(|message| ConfigError::Env { var, message })?;
        applied += 1;
    }
    Ok(applied)
}

fn convert(kind: Kind, raw: &str) -> Result<Value, String> {
    match kind {
        Kind::Str => Ok(Value::String(raw.to_string())),
        Kind::Bool => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("expected true or false, got {other:?}")),
        },
        Kind::List => match serde_json::from_str::<Value>(raw) {
            Ok(v @ (Value::Array(_) | Value::Null)) => Ok(v),
            Ok(_) => Err("expected a JSON list, e.g. [\"openid\",\"email\"]".into()),
            Err(e) => Err(format!(
                "expected a JSON list, e.g. [\"openid\",\"email\"]: {e}"
            )),
        },
        Kind::Map => match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err("expected a JSON object, e.g. {\"prompt\":\"consent\"}".into()),
            Err(e) => Err(format!(
                "expected a JSON object, e.g. {{\"prompt\":\"consent\"}}: {e}"
            )),
        },
    }
}

fn set_path(tree: &mut Value, path: &[String], value: Option<Value>) -> Result<(), String> {
    let mut node = tree;
    for (i, seg) in path.iter().enumerate() {
        if node.is_null() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else {
            return Err(format!(
                "{} is not a section in the file",
                path[..i].join(".")
            ));
        };
        if i + 1 == path.len() {
            match value {
                Some(v) => {
                    map.insert(seg.clone(), v);
                }
                None => {
                    map.remove(seg);
                }
            }
            return Ok(());
        }
        node = map.entry(seg.clone()).or_insert(Value::Null);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::ProxyConfig;

    #[test]
    fn every_key_is_a_real_field() {
        // Setting each key to a plausible value must deserialize (deny_unknown_fields).
        for (key, kind) in KEYS {
            let raw = match (key, kind) {
                (&"upstream.verifier.algorithms", _) => "[\"RS256\"]",
                (_, Kind::Bool) => "true",
                (_, Kind::List) => "[\"a\"]",
                (_, Kind::Map) => "{\"a\":\"b\"}",
                (k, _)
                    if k.ends_with("ttl")
                        || k.ends_with("timeout")
                        || k.ends_with("window")
                        || k.ends_with("threshold") =>
                {
                    "1h"
                }
                (&"storage_key", _) => "0123456789abcdef0123456789abcdef",
                (&"provider", _) => "workos",
                (&"upstream.verifier.kind", _) => "userinfo",
                (&"upstream.tenant", _) => "common",
                (&"consent", _) => "off",
                (&"storage", _) => "memory",
                (&"upstream.token_endpoint_auth_method", _) => "none",
                _ => "http://127.0.0.1:1/x",
            };
            let var = format!("AUTHPROOF_{}", key.replace('.', "__").to_uppercase());
            let mut tree = serde_json::json!({});
            apply_env(&mut tree, [(var.clone(), raw.to_string())]).unwrap();
            serde_json::from_value::<ProxyConfig>(tree).unwrap_or_else(|e| panic!("{var}: {e}"));
        }
    }
}
