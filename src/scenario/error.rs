//! Error helpers shared by the modules that turn scenario sections into typed configs.

use super::load::LoadedScenario;
use super::model::Located;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserialize with the serde path of the failing field in the message.
pub fn from_value_with_path<T: DeserializeOwned>(v: Value, section: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = super::load::clean_message(&e.inner().to_string());
        if path == "." || path.is_empty() {
            format!("{section}: {inner}")
        } else {
            format!("{section}.{path}: {inner}")
        }
    })
}

pub fn located_error(sc: &LoadedScenario, loc: &Located<Value>, message: String) -> String {
    if loc.referenced.line() == 0 {
        return format!("{}: {message}", sc.path.display());
    }
    format!(
        "{}:{}:{}: {message}",
        sc.path.display(),
        loc.referenced.line(),
        loc.referenced.column()
    )
}
