//! `authproof schema`: JSON Schemas for editors.
//!
//! Each schema is generated (schemars) from the type the file is deserialized into:
//! `scenario` from the scenario model, `proxy` from [`crate::proxy::ProxyConfig`], `idp`
//! from [`mock_idp::IdpConfig`] and `profile` from [`crate::scenario::profile::Profile`] (an
//! external target's `--profile`). Like those types, the schemas reject unknown keys.

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
    /// A target profile (`authproof test --profile`): what an external target is configured
    /// like.
    Profile,
}

/// The JSON Schema of the scenario format.
pub fn scenario_schema() -> serde_json::Value {
    schemars::schema_for!(crate::scenario::model::Scenario).to_value()
}

/// The JSON Schema of the proxy configuration file (`authproof serve --config`).
pub fn proxy_schema() -> serde_json::Value {
    schemars::schema_for!(crate::proxy::ProxyConfig).to_value()
}

/// The JSON Schema of the mock IdP configuration (`mock-idp --config`, a scenario's `idp:`).
pub fn idp_schema() -> serde_json::Value {
    schemars::schema_for!(mock_idp::IdpConfig).to_value()
}

/// The JSON Schema of a target profile (`authproof test --profile FILE`).
pub fn profile_schema() -> serde_json::Value {
    schemars::schema_for!(crate::scenario::profile::Profile).to_value()
}

/// The schema of one format.
pub fn schema(which: Which) -> serde_json::Value {
    match which {
        Which::Scenario => scenario_schema(),
        Which::Proxy => proxy_schema(),
        Which::Idp => idp_schema(),
        Which::Profile => profile_schema(),
    }
}

pub fn run(args: SchemaArgs) -> ExitCode {
    match serde_json::to_string_pretty(&schema(args.which)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authproof schema: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::path::Path;

    /// Validates `v` against `schema` for the keywords schemars emits (draft 2020-12 subset).
    /// Any other keyword is an error, so a schema this cannot check fails the test instead of
    /// passing unchecked. Returns every violation, each with its JSON path.
    fn validate(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return errors.push(format!("{at}: not allowed")),
            Value::Object(o) => o,
            other => return errors.push(format!("{at}: bad schema {other}")),
        };
        let number = |x: &Value| -> Option<f64> {
            x.as_i64()
                .map(|n| n as f64)
                .or_else(|| x.as_u64().map(|n| n as f64))
                .or_else(|| x.as_f64())
        };
        let passes = |sub: &Value| {
            let mut e = Vec::new();
            validate(root, sub, v, at, &mut e);
            e.is_empty()
        };
        for (key, kw) in obj {
            match key.as_str() {
                "$schema" | "$defs" | "title" | "description" | "default" | "examples"
                | "format" | "deprecated" | "readOnly" | "writeOnly" | "$comment" => {}
                "$ref" => {
                    let target = kw
                        .as_str()
                        .and_then(|r| r.strip_prefix('#'))
                        .and_then(|p| root.pointer(p));
                    match target {
                        Some(t) => validate(root, t, v, at, errors),
                        None => errors.push(format!("{at}: unresolvable $ref {kw}")),
                    }
                }
                "type" => {
                    let types: Vec<&str> = match kw {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        _ => vec![],
                    };
                    let ok = types.iter().any(|t| match *t {
                        "null" => v.is_null(),
                        "boolean" => v.is_boolean(),
                        "object" => v.is_object(),
                        "array" => v.is_array(),
                        "string" => v.is_string(),
                        "integer" => v.is_i64() || v.is_u64(),
                        "number" => v.is_number(),
                        _ => false,
                    });
                    if !ok {
                        errors.push(format!("{at}: {v} is not of type {kw}"));
                    }
                }
                "enum" => {
                    if !kw.as_array().is_some_and(|a| a.contains(v)) {
                        errors.push(format!("{at}: {v} is not one of {kw}"));
                    }
                }
                "const" => {
                    if kw != v {
                        errors.push(format!("{at}: {v} is not {kw}"));
                    }
                }
                "oneOf" | "anyOf" | "allOf" => {
                    let subs = kw.as_array().map(Vec::as_slice).unwrap_or_default();
                    let n = subs.iter().filter(|s| passes(s)).count();
                    let ok = match key.as_str() {
                        "oneOf" => n == 1,
                        "anyOf" => n >= 1,
                        _ => n == subs.len(),
                    };
                    if !ok {
                        errors.push(format!("{at}: {v} matches {n} of the {key} branches"));
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(x), Some(limit)) = (number(v), number(kw)) {
                        let ok = if key == "minimum" {
                            x >= limit
                        } else {
                            x <= limit
                        };
                        if !ok {
                            errors.push(format!("{at}: {v} is out of range ({key} {kw})"));
                        }
                    }
                }
                "pattern" => {
                    if let Some(text) = v.as_str() {
                        let re = regex::Regex::new(kw.as_str().unwrap_or_default()).unwrap();
                        if !re.is_match(text) {
                            errors.push(format!("{at}: {v} does not match {kw}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(text), Some(limit)) = (v.as_str(), kw.as_u64()) {
                        let len = text.chars().count() as u64;
                        if (key == "minLength" && len < limit)
                            || (key == "maxLength" && len > limit)
                        {
                            errors.push(format!("{at}: {v} violates {key} {limit}"));
                        }
                    }
                }
                "items" => {
                    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                        validate(root, kw, item, &format!("{at}[{i}]"), errors);
                    }
                }
                "uniqueItems" => {
                    if let (Some(a), Some(true)) = (v.as_array(), kw.as_bool()) {
                        let distinct: std::collections::BTreeSet<String> =
                            a.iter().map(Value::to_string).collect();
                        if distinct.len() != a.len() {
                            errors.push(format!("{at}: items are not unique"));
                        }
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for r in kw
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                        {
                            if !o.contains_key(r) {
                                errors.push(format!("{at}: missing required {r:?}"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let (Some(o), Some(props)) = (v.as_object(), kw.as_object()) {
                        for (name, value) in o {
                            if let Some(sub) = props.get(name) {
                                validate(root, sub, value, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = v.as_object() {
                        let props = obj.get("properties").and_then(Value::as_object);
                        for (name, value) in o {
                            if !props.is_some_and(|p| p.contains_key(name)) {
                                validate(root, kw, value, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                other => errors.push(format!("{at}: unsupported keyword {other:?} in {schema}")),
            }
        }
    }

    fn check(schema: &Value, v: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        validate(schema, schema, v, "$", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn yaml(text: &str) -> Value {
        foundations::yaml::from_str(text, "test.yaml").unwrap()
    }

    fn read_yaml(path: &Path) -> Value {
        foundations::yaml::from_file(path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn idp_examples() -> Vec<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-idp/examples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        files
    }

    fn property_names(schema: &Value) -> Vec<&str> {
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// Every object schema under `$defs` that lists properties must forbid others (all the
    /// config structs are `deny_unknown_fields`).
    fn assert_defs_closed(schema: &Value) {
        for (name, def) in schema["$defs"].as_object().unwrap() {
            if def.get("properties").is_some() {
                assert_eq!(def["additionalProperties"], false, "{name}: {def}");
            }
        }
    }

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

    #[test]
    fn proxy_schema_has_the_config_keys_and_rejects_unknown_fields() {
        let s = schema(Which::Proxy);
        assert_eq!(s["title"], "authproof proxy configuration");
        assert_eq!(s["additionalProperties"], false);
        let props = property_names(&s);
        for key in [
            "base_url",
            "issuer_url",
            "mcp_path",
            "upstream",
            "redirect_path",
            "allowed_client_redirect_uris",
            "valid_scopes",
            "consent",
            "jwt_signing_key",
            "access_token_ttl",
            "backend",
            "storage",
        ] {
            assert!(props.contains(&key), "{key} missing from {props:?}");
        }
        assert!(s.get("required").is_none(), "every key has a default: {s}");
        assert_eq!(s["$defs"]["UpstreamConfig"]["additionalProperties"], false);
        assert_defs_closed(&s);
    }

    #[test]
    fn idp_schema_has_the_config_keys_and_rejects_unknown_fields() {
        let s = schema(Which::Idp);
        assert_eq!(s["title"], "mock-idp configuration");
        assert_eq!(s["additionalProperties"], false);
        let props = property_names(&s);
        for key in [
            "flavor",
            "issuer",
            "keys",
            "clients",
            "users",
            "default_user",
            "accept_unknown_users",
            "consent",
            "tokens",
            "registration",
            "faults",
            "workos",
            "github",
            "limits",
            "journal",
        ] {
            assert!(props.contains(&key), "{key} missing from {props:?}");
        }
        assert!(s.get("required").is_none(), "every key has a default: {s}");
        for def in [
            "ClientConfig",
            "UserConfig",
            "FaultSpec",
            "TokensConfig",
            "KeysConfig",
        ] {
            assert_eq!(s["$defs"][def]["additionalProperties"], false, "{def}");
        }
        assert_defs_closed(&s);
        // The serde names, not the Rust ones.
        let fault = property_names(&s["$defs"]["FaultSpec"]);
        assert!(
            fault.contains(&"match") && !fault.contains(&"matcher"),
            "{fault:?}"
        );
        let text = s.to_string();
        for word in [
            "\"workos\"",
            "\"reuse_detection\"",
            "\"s256_required\"",
            "\"alg_none\"",
        ] {
            assert!(text.contains(word), "{word} missing");
        }
    }

    #[test]
    fn the_validator_is_not_vacuous() {
        let s = idp_schema();
        assert!(check(&s, &json!({})).is_ok());
        assert!(check(&s, &json!({ "bogus": 1 })).is_err());
        assert!(check(&s, &json!({ "flavor": "okta" })).is_err());
        assert!(check(&s, &json!({ "clients": [{ "id": "a", "secrett": "x" }] })).is_err());
        assert!(check(&s, &json!({ "tokens": { "code_ttl_secs": "soon" } })).is_err());
        let p = proxy_schema();
        assert!(check(&p, &json!({ "upstream": { "client_id": "a" } })).is_ok());
        assert!(check(&p, &json!({ "upstream": { "client_idd": "a" } })).is_err());
        assert!(check(&p, &json!({ "consent": "sometimes" })).is_err());
    }

    #[test]
    fn the_proxy_example_is_valid() {
        let s = proxy_schema();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/proxy.yaml");
        let doc = read_yaml(&path);
        let props = property_names(&s);
        for key in doc.as_object().unwrap().keys() {
            assert!(props.contains(&key.as_str()), "{}: {key}", path.display());
        }
        if let Err(e) = check(&s, &doc) {
            panic!("{}: {e:#?}", path.display());
        }
        let mut bad = doc.clone();
        bad["upstream"]["timeout"] = json!("soon");
        assert!(check(&s, &bad).is_err());
    }

    #[test]
    fn the_idp_examples_are_valid() {
        let s = idp_schema();
        let files = idp_examples();
        assert!(files.len() >= 3, "{files:?}");
        let props = property_names(&s);
        for path in files {
            let doc = read_yaml(&path);
            for key in doc.as_object().unwrap().keys() {
                assert!(props.contains(&key.as_str()), "{}: {key}", path.display());
            }
            if let Err(e) = check(&s, &doc) {
                panic!("{}: {e:#?}", path.display());
            }
            // The type agrees.
            mock_idp::IdpConfig::from_yaml_file(&path).unwrap();
        }
    }

    /// The hand-written schemas (key seeds, fault counts) accept exactly what the
    /// deserializers do, and so do the derived ones on a range of documents.
    #[test]
    fn idp_schema_agrees_with_the_deserializer() {
        let s = idp_schema();
        let docs = [
            "flavor: github\n",
            "flavor: okta\n",
            "keys: { seed: 42 }\n",
            "keys: { seed: my tests }\n",
            "keys: { seed: -1 }\n",
            "keys: { seed: 1.5 }\n",
            "keys: { seed: [1] }\n",
            "keys: { bits: 1024, pem: [{ kid: k1, file: key.pem }] }\n",
            "keys: { algorithm: ES256 }\n",
            "keys: { algorithm: EdDSA, seed: 1 }\n",
            "keys: { algorithm: HS256 }\n",
            "keys: { algorithm: es256 }\n",
            "keys: { pem: [{ pem: x, path: y }] }\n",
            "faults: [{ times: once, action: close }]\n",
            "faults: [{ times: always, delay_ms: 5 }]\n",
            "faults: [{ times: 3, action: malformed_json }]\n",
            "faults: [{ times: '2', action: { mutate_token: alg_none } }]\n",
            "faults: [{ times: '+7' }]\n",
            "faults: [{ times: 0 }]\n",
            "faults: [{ times: '0' }]\n",
            "faults: [{ times: -2 }]\n",
            "faults: [{ times: twice }]\n",
            "faults: [{ times: 2.5 }]\n",
            "faults: [{ times: true }]\n",
            "faults: [{ action: explode }]\n",
            "faults: [{ action: { mutate_id_token: wrong_aud } }]\n",
            "faults: [{ action: { mutate_id_token: sideways } }]\n",
            "faults: [{ action: { respond: { status: 503, body: busy } } }]\n",
            "faults: [{ action: { respond: { status: 70000 } } }]\n",
            "faults: [{ action: { respond: { json: {} } } }]\n",
            "faults: [{ action: { respond: { status: 503, bogus: 1 } } }]\n",
            "faults: [{ action: { close: {} } }]\n",
            "faults: [{ action: { token_response: { omit: [refresh_token], set: { expires_in: 5 } } } }]\n",
            "faults: [{ match: { endpoint: token, params: { grant_type: '*' } } }]\n",
            "faults: [{ matcher: {} }]\n",
            "clients: [{ id: a, secret: b, pkce: required, jwks: { keys: [] } }]\n",
            "clients: [{ id: a, token_endpoint_auth_method: client_secret_jwt }]\n",
            "clients: [{ id: a, secrett: x }]\n",
            "users: [{ sub: a, claims: { n: 1 } }]\n",
            "users: [{ sub: a, claims: [1] }]\n",
            "tokens: { refresh_rotation: off, refresh_tokens: offline_access }\n",
            "tokens: { refresh_rotation: false }\n",
            "tokens: { code_ttl_secs: -5 }\n",
            "registration: { enabled: true, initial_access_token: t }\n",
            "registration: { enabled: yes }\n",
            "consent: prompt\n",
            "limits: { max_body_bytes: 1024 }\n",
            "journal: { max_entries: 10, extra: 1 }\n",
            "bogus: 1\n",
        ];
        let mut accepted = 0;
        for doc in docs {
            let by_type = mock_idp::IdpConfig::from_yaml_str(doc, "t").map(|_| ());
            let by_schema = check(&s, &yaml(doc));
            assert_eq!(
                by_type.is_ok(),
                by_schema.is_ok(),
                "{doc:?}: type {by_type:?}, schema {by_schema:?}"
            );
            accepted += usize::from(by_type.is_ok());
        }
        // Both verdicts occur.
        assert!(accepted > 10 && accepted < docs.len() - 10, "{accepted}");
    }

    #[test]
    fn the_bundled_target_profiles_are_valid() {
        let s = profile_schema();
        assert_eq!(s["title"], "authproof target profile");
        assert_eq!(s["additionalProperties"], false);
        let props = property_names(&s);
        for key in [
            "consent",
            "allowed_redirect_uris",
            "architecture",
            "scopes",
            "settings",
        ] {
            assert!(props.contains(&key), "{key} missing from {props:?}");
        }
        for name in ["fastmcp", "ts-sdk"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/targets")
                .join(name)
                .join("profile.yaml");
            let doc = read_yaml(&path);
            if let Err(e) = check(&s, &doc) {
                panic!("{}: {e:#?}", path.display());
            }
            crate::scenario::profile::Profile::load(&path).unwrap();
            let mut bad = doc.clone();
            bad["scopes"] = json!("openid");
            assert!(check(&s, &bad).is_err(), "scopes must be a list");
        }
    }

    #[test]
    fn run_prints_every_schema() {
        for which in [Which::Scenario, Which::Proxy, Which::Idp, Which::Profile] {
            assert_eq!(run(SchemaArgs { which }), ExitCode::SUCCESS);
        }
    }
}
