//! `authproof schema`: JSON Schemas for editors.
//!
//! `scenario` is generated from the scenario model (schemars). `proxy` and `idp` need
//! `JsonSchema` derives on `ProxyConfig` and `IdpConfig`, which those types do not have yet:
//! until then they exit 2 saying so.

use clap::{Args, ValueEnum};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file format.
    #[arg(value_enum)]
    pub which: Which,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// A scenario file (scenarios/<area>/*.yaml).
    Scenario,
    /// A proxy configuration file.
    Proxy,
    /// A mock IdP configuration file.
    Idp,
}

/// The JSON Schema of the scenario format.
pub fn scenario_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(crate::scenario::model::Scenario);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

pub fn run(args: SchemaArgs) -> ExitCode {
    match args.which {
        Which::Scenario => {
            let text = serde_json::to_string_pretty(&scenario_schema()).unwrap_or_default();
            println!("{text}");
            ExitCode::SUCCESS
        }
        Which::Proxy | Which::Idp => {
            eprintln!(
                "authproof schema {}: not available: the configuration type has no JSON Schema \
                 derive yet",
                if args.which == Which::Proxy {
                    "proxy"
                } else {
                    "idp"
                }
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_schema_lists_steps_and_rejects_unknown_fields() {
        let s = scenario_schema();
        assert_eq!(s["title"], "authproof scenario");
        assert_eq!(s["additionalProperties"], false);
        assert!(
            s["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "steps")
        );
        let step = &s["$defs"]["Step"];
        assert_eq!(step["additionalProperties"], false, "{step}");
        for key in [
            "register",
            "authorize",
            "idp.fault",
            "idp.journal",
            "include",
            "expect",
            "save",
        ] {
            assert!(
                step["properties"].get(key).is_some(),
                "{key} missing from {step}"
            );
        }
    }
}
