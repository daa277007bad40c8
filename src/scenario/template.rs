//! Templates: minijinja with strict undefined.
//!
//! A string that is exactly one `{{ expr }}` keeps the JSON type of the value (number, bool,
//! object, list, null); any other string containing `{{` is interpolated into a string.
//! Map keys are rendered too (always as strings). An undefined variable is an error that names
//! the variable.

use base64::Engine;
use minijinja::{Environment, UndefinedBehavior, Value as MjValue};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::OnceLock;

/// A template error: which template, which variable (when undefined), what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub template: String,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in `{}`: {}", self.template, self.message)
    }
}

impl std::error::Error for TemplateError {}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("b64encode", |s: String| {
            base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
        });
        env.add_filter("b64urlencode", |s: String| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
        });
        env.add_filter(
            "b64decode",
            |s: String| -> Result<String, minijinja::Error> {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()))
                    .map_err(|e| {
                        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                    })?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            },
        );
        env.add_filter("s256", |s: String| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        });
        env.add_filter("repeat", |s: String, n: usize| s.repeat(n.min(1 << 20)));
        env.add_function("uuid", || uuid::Uuid::new_v4().to_string());
        env
    })
}

/// Whether `s` is exactly one `{{ expr }}`; returns the expression. (`{{ a }} and {{ b }}`
/// also starts and ends with braces, but its inside does not compile as one expression.)
fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner).trim();
    if inner.is_empty() || inner.contains("{%") {
        return None;
    }
    environment().compile_expression(inner).ok()?;
    Some(inner)
}

/// Render one string against `ctx` (a JSON object of variables).
pub fn render_str(s: &str, ctx: &Value) -> Result<Value, TemplateError> {
    if !super::model::is_template(s) {
        return Ok(Value::String(s.to_string()));
    }
    let env = environment();
    let mctx = MjValue::from(minijinja::value::Serde(ctx));
    let err = |e: minijinja::Error, vars: Vec<String>| TemplateError {
        template: s.to_string(),
        message: describe(e, &vars, ctx),
    };
    if let Some(expr) = single_expression(s) {
        let compiled = env.compile_expression(expr).map_err(|e| err(e, vec![]))?;
        let vars: Vec<String> = compiled.undeclared_variables(true).into_iter().collect();
        let out = compiled.eval(mctx).map_err(|e| err(e, vars.clone()))?;
        if out.is_undefined() {
            return Err(err(
                minijinja::Error::new(minijinja::ErrorKind::UndefinedError, "undefined value"),
                vars,
            ));
        }
        return serde_json::to_value(&out).map_err(|e| TemplateError {
            template: s.to_string(),
            message: format!("the value cannot be used as JSON: {e}"),
        });
    }
    let tmpl = env.template_from_str(s).map_err(|e| err(e, vec![]))?;
    let vars: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
    tmpl.render(mctx)
        .map(Value::String)
        .map_err(|e| err(e, vars))
}

/// Render every string (and map key) in a JSON tree.
pub fn render_value(v: &Value, ctx: &Value) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => render_str(s, ctx)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_value(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match render_str(k, ctx)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, render_value(v, ctx)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Render a string template and demand a string (numbers and booleans are written out).
pub fn render_string(s: &str, ctx: &Value) -> Result<String, TemplateError> {
    Ok(match render_str(s, ctx)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Whether a dotted variable path resolves in `ctx`.
fn defined(ctx: &Value, path: &str) -> bool {
    let mut cur = ctx;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    true
}

fn describe(e: minijinja::Error, vars: &[String], ctx: &Value) -> String {
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        let mut missing: Vec<&String> = vars.iter().filter(|v| !defined(ctx, v)).collect();
        missing.sort();
        if let Some(first) = missing.first() {
            let known: Vec<String> = ctx
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            return format!(
                "undefined variable `{first}` (defined: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg = format!("{msg}: {detail}");
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!({
            "n": 3, "flag": true, "name": "alice", "obj": {"a": [1, 2]},
            "proxy": {"url": "http://127.0.0.1:1234", "issuer": "http://127.0.0.1:1234"},
            "nothing": null
        })
    }

    #[test]
    fn single_expression_keeps_json_type() {
        assert_eq!(render_str("{{ n }}", &ctx()).unwrap(), json!(3));
        assert_eq!(render_str("{{flag}}", &ctx()).unwrap(), json!(true));
        assert_eq!(
            render_str("{{ obj }}", &ctx()).unwrap(),
            json!({"a": [1, 2]})
        );
        assert_eq!(render_str("{{ obj.a }}", &ctx()).unwrap(), json!([1, 2]));
        assert_eq!(render_str("{{ n + 1 }}", &ctx()).unwrap(), json!(4));
        assert_eq!(render_str("{{ nothing }}", &ctx()).unwrap(), json!(null));
    }

    #[test]
    fn interpolation_gives_strings() {
        assert_eq!(render_str("n={{ n }}", &ctx()).unwrap(), json!("n=3"));
        assert_eq!(
            render_str("{{ proxy.url }}/mcp", &ctx()).unwrap(),
            json!("http://127.0.0.1:1234/mcp")
        );
        assert_eq!(render_str("plain", &ctx()).unwrap(), json!("plain"));
        assert_eq!(
            render_str("{{ 'x' | repeat(3) }}", &ctx()).unwrap(),
            json!("xxx")
        );
    }

    #[test]
    fn undefined_variables_are_named() {
        let e = render_str("{{ client_id }}", &ctx()).unwrap_err();
        assert!(e.message.contains("undefined variable `client_id`"), "{e}");
        let e = render_str("{{ proxy.resource }}/x", &ctx()).unwrap_err();
        assert!(e.message.contains("`proxy.resource`"), "{e}");
        let e = render_str("a {{ missing }} b", &ctx()).unwrap_err();
        assert!(e.message.contains("`missing`"), "{e}");
        assert!(render_str("{{ missing | default('d') }}", &ctx()).is_ok());
    }

    #[test]
    fn nested_braces_are_one_expression() {
        let v = render_str("{{ {'a': {'b': {'c': n}}} }}", &ctx()).unwrap();
        assert_eq!(v, json!({"a": {"b": {"c": 3}}}));
        assert_eq!(
            render_str("{{ n }} and {{ name }}", &ctx()).unwrap(),
            json!("3 and alice")
        );
    }

    #[test]
    fn trees_and_keys_render() {
        let v = json!({"{{ name }}": "{{ n }}", "list": ["{{ flag }}", "x{{ n }}"]});
        assert_eq!(
            render_value(&v, &ctx()).unwrap(),
            json!({"alice": 3, "list": [true, "x3"]})
        );
    }

    #[test]
    fn pkce_filter_matches_rfc7636_example() {
        let c = json!({"v": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"});
        assert_eq!(
            render_str("{{ v | s256 }}", &c).unwrap(),
            json!("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
    }
}
