//! Expectations: pure functions from an [`Observation`] (what a step saw) and an [`Expect`]
//! (rendered) to a list of [`Mismatch`]es, each naming the expectation, the expected value
//! and the actual one.

use super::jwt::{self, JwtKeys};
use super::model::{Expect, HtmlExpect, JournalExpect, OrderedMap, RedirectExpect};
use serde::Serialize;
use serde_json::Value;
use serde_json_path::JsonPath;
use std::fmt;

/// What a step saw.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The final HTTP status (the last hop for flows).
    pub status: Option<u16>,
    /// Response headers, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The redirect: the authorization response for `authorize`, else the `Location` header.
    pub redirect: Option<String>,
    /// The URL of the last request (for flows: the last page fetched, or the client redirect).
    pub url: Option<String>,
    /// Mock IdP requests recorded during the step (journal entries as JSON).
    pub journal: Vec<Value>,
    /// `idp.journal` steps: the selected entries.
    pub selected: Option<Vec<Value>>,
}

impl Observation {
    /// All values of a header (case-insensitive name).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One failed expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Which expectation, e.g. `status`, `json $.error`, `redirect query iss`.
    pub what: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n    expected: {}\n    actual:   {}",
            self.what, self.expected, self.actual
        )
    }
}

/// What became of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed {
        expected: String,
        actual: String,
    },
    /// The runner could not make the check (no key for a signature, …).
    NotChecked {
        reason: String,
    },
}

/// One check of an expectation, as data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Which expectation, e.g. `status`, `json $.error`, `jwt access_token signature`.
    pub what: String,
    #[serde(flatten)]
    pub status: CheckStatus,
}

/// The checks of one expectation, in the order they were made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    /// Record a failure.
    pub fn push(&mut self, m: Mismatch) {
        self.0.push(Check {
            what: m.what,
            status: CheckStatus::Failed {
                expected: m.expected,
                actual: m.actual,
            },
        });
    }

    pub fn pass(&mut self, what: impl Into<String>) {
        self.0.push(Check {
            what: what.into(),
            status: CheckStatus::Passed,
        });
    }

    pub fn not_checked(&mut self, what: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Check {
            what: what.into(),
            status: CheckStatus::NotChecked {
                reason: reason.into(),
            },
        });
    }

    /// The failures, as mismatches.
    pub fn mismatches(&self) -> Vec<Mismatch> {
        self.0
            .iter()
            .filter_map(|c| match &c.status {
                CheckStatus::Failed { expected, actual } => Some(Mismatch {
                    what: c.what.clone(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

fn mismatch(
    what: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Mismatch {
    Mismatch {
        what: what.into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Status

/// `200`, `"4xx"`, or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusMatcher(Vec<StatusItem>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum StatusItem {
    Exact(u16),
    Class(u16),
}

impl StatusMatcher {
    pub fn parse(v: &Value) -> Result<Self, String> {
        let one = |v: &Value| -> Result<StatusItem, String> {
            match v {
                Value::Number(n) => n
                    .as_u64()
                    .filter(|n| (100..=599).contains(n))
                    .map(|n| StatusItem::Exact(n as u16))
                    .ok_or_else(|| format!("`{n}` is not an HTTP status")),
                Value::String(s) => {
                    let s = s.trim();
                    if let Ok(n) = s.parse::<u16>()
                        && (100..=599).contains(&n)
                    {
                        return Ok(StatusItem::Exact(n));
                    }
                    let b = s.as_bytes();
                    if b.len() == 3
                        && (b'1'..=b'5').contains(&b[0])
                        && b[1..].eq_ignore_ascii_case(b"xx")
                    {
                        return Ok(StatusItem::Class(u16::from(b[0] - b'0')));
                    }
                    Err(format!(
                        "`{s}` is not a status (expected e.g. 200, \"4xx\")"
                    ))
                }
                other => Err(format!(
                    "`{other}` is not a status (expected e.g. 200, \"4xx\")"
                )),
            }
        };
        match v {
            Value::Array(items) if !items.is_empty() => Ok(StatusMatcher(
                items.iter().map(one).collect::<Result<_, _>>()?,
            )),
            Value::Array(_) => Err("an empty list matches no status".into()),
            other => Ok(StatusMatcher(vec![one(other)?])),
        }
    }

    pub fn matches(&self, status: u16) -> bool {
        self.0.iter().any(|i| match i {
            StatusItem::Exact(s) => *s == status,
            StatusItem::Class(c) => status / 100 == *c,
        })
    }
}

impl fmt::Display for StatusMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|i| match i {
                StatusItem::Exact(s) => s.to_string(),
                StatusItem::Class(c) => format!("{c}xx"),
            })
            .collect();
        write!(f, "{}", items.join(" or "))
    }
}

// ---------------------------------------------------------------------------------------------
// Values and predicates

/// Predicate keywords: an object made only of these is a predicate, not a literal.
pub const PREDICATES: &[&str] = &[
    "exists",
    "absent",
    "eq",
    "ne",
    "contains",
    "not_contains",
    "regex",
    "one_of",
    "type",
    "length",
    "gt",
    "ge",
    "lt",
    "le",
    "starts_with",
    "ends_with",
    "not",
];

fn is_predicate(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty() && m.keys().all(|k| PREDICATES.contains(&k.as_str())))
}

/// Show a value in a message (strings quoted, long values cut).
pub fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 300 {
                format!("{}…", &s[..floor_char(&s, 300)])
            } else {
                s
            }
        }
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// JSON equality where `1` equals `1.0`.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn contains(actual: &Value, needle: &Value) -> bool {
    match (actual, needle) {
        (Value::String(a), Value::String(n)) => a.contains(n.as_str()),
        (Value::String(_), Value::Array(ns)) => ns.iter().all(|n| contains(actual, n)),
        (Value::String(a), n) => a.contains(&n.to_string()),
        (Value::Array(items), Value::Array(ns)) => {
            ns.iter().all(|n| items.iter().any(|i| json_eq(i, n)))
        }
        (Value::Array(items), n) => items.iter().any(|i| json_eq(i, n)),
        (Value::Object(a), Value::Object(n)) => n
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|w| json_eq(w, v) || contains(w, v))),
        (Value::Object(a), Value::String(k)) => a.contains_key(k),
        _ => false,
    }
}

fn regex_match(pattern: &Value, actual: &Value) -> Result<bool, String> {
    let p = pattern
        .as_str()
        .ok_or("regex: the pattern must be a string")?;
    let re = regex::Regex::new(p).map_err(|e| format!("regex `{p}` is invalid: {e}"))?;
    Ok(match actual {
        Value::String(s) => re.is_match(s),
        Value::Number(_) | Value::Bool(_) => re.is_match(&actual.to_string()),
        _ => false,
    })
}

/// Check `actual` (None = absent) against an expected literal or predicate. `Err` carries the
/// description of what was expected.
pub fn check_value(actual: Option<&Value>, expected: &Value) -> Result<(), String> {
    if !is_predicate(expected) {
        return match actual {
            Some(a) if json_eq(a, expected) => Ok(()),
            _ => Err(show(Some(expected))),
        };
    }
    let Value::Object(preds) = expected else {
        return Ok(());
    };
    for (name, arg) in preds {
        let ok = eval_predicate(name, arg, actual)?;
        if !ok {
            return Err(format!("{name}: {}", show(Some(arg))));
        }
    }
    Ok(())
}

fn eval_predicate(name: &str, arg: &Value, actual: Option<&Value>) -> Result<bool, String> {
    let want = |b: &Value| b.as_bool().unwrap_or(true);
    Ok(match name {
        "exists" => actual.is_some() == want(arg),
        "absent" => actual.is_none() == want(arg),
        "not" => check_value(actual, arg).is_err(),
        _ => {
            let Some(a) = actual else { return Ok(false) };
            match name {
                "eq" => json_eq(a, arg),
                "ne" => !json_eq(a, arg),
                "contains" => contains(a, arg),
                "not_contains" => !contains(a, arg),
                "regex" => regex_match(arg, a).map_err(|e| format!("bad predicate: {e}"))?,
                "one_of" => match arg {
                    Value::Array(options) => options.iter().any(|o| json_eq(a, o)),
                    _ => return Err("one_of: expected a list".into()),
                },
                "type" => {
                    let t = arg.as_str().unwrap_or("");
                    let actual_t = type_name(a);
                    t == actual_t || (t == "number" && actual_t == "integer")
                }
                "length" => {
                    let len = match a {
                        Value::String(s) => s.chars().count(),
                        Value::Array(x) => x.len(),
                        Value::Object(x) => x.len(),
                        _ => return Ok(false),
                    };
                    check_value(Some(&Value::from(len)), arg).is_ok()
                }
                "gt" | "ge" | "lt" | "le" => match (as_number(a), as_number(arg)) {
                    (Some(x), Some(y)) => match name {
                        "gt" => x > y,
                        "ge" => x >= y,
                        "lt" => x < y,
                        _ => x <= y,
                    },
                    _ => false,
                },
                "starts_with" => {
                    matches!((a, arg), (Value::String(s), Value::String(p)) if s.starts_with(p.as_str()))
                }
                "ends_with" => {
                    matches!((a, arg), (Value::String(s), Value::String(p)) if s.ends_with(p.as_str()))
                }
                other => return Err(format!("unknown predicate `{other}`")),
            }
        }
    })
}

/// Check a string field (header, form or query parameter): `null` = absent, `"regex:…"`,
/// an exact string (numbers and booleans compare as their text), or a predicate.
pub fn check_text(actual: &[&str], expected: &Value) -> Result<(), String> {
    match expected {
        Value::Null => {
            if actual.is_empty() {
                Ok(())
            } else {
                Err("(absent)".into())
            }
        }
        Value::String(s) => {
            if let Some(p) = s.strip_prefix("regex:") {
                let re = regex::Regex::new(p).map_err(|e| format!("a valid regex ({e})"))?;
                if actual.iter().any(|a| re.is_match(a)) {
                    Ok(())
                } else {
                    Err(format!("matching /{p}/"))
                }
            } else if actual.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(show(Some(expected)))
            }
        }
        Value::Number(_) | Value::Bool(_) => {
            let s = expected.to_string();
            if actual.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(show(Some(&Value::String(s))))
            }
        }
        other if is_predicate(other) => {
            let joined = (!actual.is_empty()).then(|| Value::String(actual.join(", ")));
            check_value(joined.as_ref(), other)
        }
        other => Err(format!("(a string, null or a predicate; got {other})")),
    }
}

fn show_texts(values: &[&str]) -> String {
    match values {
        [] => "(absent)".into(),
        [one] => show(Some(&Value::String((*one).to_string()))),
        many => show(Some(&Value::Array(
            many.iter()
                .map(|s| Value::String((*s).to_string()))
                .collect(),
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// The whole expectation

/// Check every part of `expect` against `obs`; the failures only.
pub fn check(expect: &Expect, obs: &Observation, keys: &JwtKeys) -> Vec<Mismatch> {
    evaluate(expect, obs, keys).mismatches()
}

/// Check every part of `expect` against `obs`: every check made, passed, failed or not made.
pub fn evaluate(expect: &Expect, obs: &Observation, keys: &JwtKeys) -> Checks {
    let mut out = Checks::default();
    if let Some(status) = &expect.status {
        match StatusMatcher::parse(status) {
            Err(e) => out.push(mismatch("status", e, "(not checked)")),
            Ok(m) => match obs.status {
                Some(s) if m.matches(s) => out.pass("status"),
                Some(s) => out.push(mismatch("status", m.to_string(), s.to_string())),
                None => out.push(mismatch("status", m.to_string(), "(no HTTP response)")),
            },
        }
    }
    if obs.selected.is_none() {
        for (name, exp) in expect.headers.iter() {
            let values = obs.header_values(name);
            match check_text(&values, exp) {
                Err(e) => out.push(mismatch(format!("header {name}"), e, show_texts(&values))),
                Ok(()) => out.pass(format!("header {name}")),
            }
        }
    }
    check_json(&expect.json, obs, &mut out);
    for (field, spec) in expect.jwt.iter() {
        check_jwt(field, spec, obs, keys, &mut out);
    }
    let unrendered =
        |what: &str| mismatch(what, "a rendered expectation", "an unrendered template");
    match expect.redirect.as_ref().map(|r| r.lit()) {
        Some(Some(r)) => check_redirect(r, obs.redirect.as_deref(), &mut out),
        Some(None) => out.push(unrendered("redirect")),
        None => {}
    }
    match expect.html.as_ref().map(|h| h.lit()) {
        Some(Some(h)) => check_html(h, obs.body.as_deref(), &mut out),
        Some(None) => out.push(unrendered("html")),
        None => {}
    }
    if let Some(b) = &expect.body {
        let actual = obs.body.as_ref().map(|s| Value::String(s.clone()));
        match check_value(actual.as_ref(), b) {
            Err(e) => out.push(mismatch("body", e, show(actual.as_ref()))),
            Ok(()) => out.pass("body"),
        }
    }
    if let Some(j) = expect.journal.as_ref().and_then(|j| j.lit()) {
        let entries: Vec<&Value> = obs
            .journal
            .iter()
            .filter(|e| {
                j.path
                    .as_deref()
                    .is_none_or(|p| e.get("path").and_then(Value::as_str) == Some(p))
            })
            .filter(|e| {
                j.method.as_deref().is_none_or(|m| {
                    e.get("method")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(m))
                })
            })
            .collect();
        let label = format!(
            "journal{}",
            j.path
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        );
        check_entries(&label, j, &entries, &mut out);
    }
    if let Some(selected) = &obs.selected {
        let j = JournalExpect {
            path: None,
            method: None,
            count: expect.count.clone(),
            form: expect.form.clone(),
            query: expect.query.clone(),
            headers: expect.headers.clone(),
            client_auth: expect.client_auth.clone(),
        };
        let entries: Vec<&Value> = selected.iter().collect();
        check_entries("idp.journal", &j, &entries, &mut out);
    }
    if !expect.any_of.is_empty() {
        check_any_of(&expect.any_of, obs, keys, &mut out);
    }
    out
}

/// `any_of`: passes when every check of one alternative passes; else one failure that shows
/// what each alternative missed.
fn check_any_of(alternatives: &[Expect], obs: &Observation, keys: &JwtKeys, out: &mut Checks) {
    let what = format!("any of {} alternatives", alternatives.len());
    let mut expected = Vec::new();
    let mut actual = Vec::new();
    for alt in alternatives {
        let misses = evaluate(alt, obs, keys).mismatches();
        if misses.is_empty() {
            out.pass(what);
            return;
        }
        for m in misses {
            expected.push(format!("{}: {}", m.what, m.expected));
            actual.push(format!("{}: {}", m.what, m.actual));
        }
    }
    out.push(mismatch(what, expected.join(" | "), actual.join(" | ")));
}

fn check_json(json: &OrderedMap<Value>, obs: &Observation, out: &mut Checks) {
    for (path, exp) in json.iter() {
        let what = format!("json {path}");
        let parsed = match JsonPath::parse(path) {
            Ok(p) => p,
            Err(e) => {
                out.push(mismatch(
                    what,
                    format!("a valid JSONPath ({e})"),
                    "(not checked)",
                ));
                continue;
            }
        };
        let Some(doc) = &obs.json else {
            let body = obs.body.as_deref().unwrap_or("");
            out.push(mismatch(
                what,
                show(Some(exp)),
                format!(
                    "(the body is not JSON: {})",
                    show(Some(&Value::String(body.to_string())))
                ),
            ));
            continue;
        };
        let nodes = parsed.query(doc).all();
        let actual = match nodes.len() {
            0 => None,
            1 => Some(nodes[0].clone()),
            _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
        };
        match check_value(actual.as_ref(), exp) {
            Err(e) => out.push(mismatch(what, e, show(actual.as_ref()))),
            Ok(()) => out.pass(what),
        }
    }
}

fn find_token(field: &str, obs: &Observation) -> Option<String> {
    if field.starts_with('$') {
        let doc = obs.json.as_ref()?;
        let p = JsonPath::parse(field).ok()?;
        return p
            .query(doc)
            .first()
            .and_then(|v| v.as_str())
            .map(str::to_string);
    }
    if let Some(v) = obs
        .json
        .as_ref()
        .and_then(|j| j.get(field))
        .and_then(Value::as_str)
    {
        return Some(v.to_string());
    }
    // A redirect parameter (e.g. a token in a query) as a fallback.
    let url = url::Url::parse(obs.redirect.as_deref()?).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.into_owned())
}

fn check_jwt(field: &str, spec: &Value, obs: &Observation, keys: &JwtKeys, out: &mut Checks) {
    let what = format!("jwt {field}");
    let Some(token) = find_token(field, obs) else {
        out.push(mismatch(what, "a JWT", "(absent)"));
        return;
    };
    let decoded = match jwt::decode(&token) {
        Ok(d) => d,
        Err(e) => {
            out.push(mismatch(what, "a JWT", e));
            return;
        }
    };
    let structured = matches!(spec, Value::Object(m) if !m.is_empty()
        && m.keys().all(|k| matches!(k.as_str(), "header" | "claims" | "signature")));
    let (header, claims, signature) = if structured {
        (
            spec.get("header"),
            spec.get("claims"),
            spec.get("signature"),
        )
    } else {
        (None, Some(spec), None)
    };
    let mut part = |name: &str, doc: &Value, exp: Option<&Value>| {
        let Some(Value::Object(exp)) = exp else {
            return;
        };
        for (k, e) in exp {
            let actual = if k.starts_with('$') {
                JsonPath::parse(k).ok().and_then(|p| {
                    let nodes = p.query(doc).all();
                    match nodes.len() {
                        0 => None,
                        1 => Some(nodes[0].clone()),
                        _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
                    }
                })
            } else {
                doc.get(k).cloned()
            };
            match check_value(actual.as_ref(), e) {
                Err(m) => out.push(mismatch(
                    format!("{what} {name} {k}"),
                    m,
                    show(actual.as_ref()),
                )),
                Ok(()) => out.pass(format!("{what} {name} {k}")),
            }
        }
    };
    part("header", &decoded.header, header);
    part("claim", &decoded.claims, claims);
    if let Some(sig) = signature {
        let want = sig.as_str().unwrap_or("");
        let label = format!("{what} signature");
        let actual = match keys.verify(&token, &decoded) {
            Ok(true) => "valid",
            Ok(false) => "invalid",
            Err(e) => {
                out.not_checked(label, format!("cannot verify the signature: {e}"));
                return;
            }
        };
        if actual != want {
            out.push(mismatch(label, want, actual));
        } else {
            out.pass(label);
        }
    }
}

fn check_redirect(r: &RedirectExpect, actual: Option<&str>, out: &mut Checks) {
    if r.present == Some(false) {
        if let Some(a) = actual {
            out.push(mismatch("redirect", "no redirect", a));
        }
        return;
    }
    let Some(actual) = actual else {
        if r.when_redirected {
            for name in r.query.keys().chain(r.absent.iter()) {
                out.not_checked(
                    format!("redirect query {name}"),
                    "there was no redirect (judged by the step's other expectations)",
                );
            }
            return;
        }
        out.push(mismatch(
            "redirect",
            r.to.clone().unwrap_or_else(|| "a redirect".into()),
            "(no redirect)",
        ));
        return;
    };
    let base = actual.split(['?', '#']).next().unwrap_or(actual);
    if let Some(to) = &r.to {
        let to_base = to.split(['?', '#']).next().unwrap_or(to);
        let origin_only = url::Url::parse(to_base)
            .map(|u| u.path() == "/" && !to_base.ends_with('/'))
            .unwrap_or(false);
        let ok = base == to_base
            || ((to_base.ends_with('/') || origin_only) && base.starts_with(to_base))
            || (origin_only && base == format!("{to_base}/"));
        if !ok {
            out.push(mismatch("redirect to", to_base, base));
        } else {
            out.pass("redirect to");
        }
    }
    let pairs: Vec<(String, String)> = match url::Url::parse(actual) {
        Ok(u) => u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        Err(_) => Vec::new(),
    };
    for (name, exp) in r.query.iter() {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        match check_text(&values, exp) {
            Err(e) => out.push(mismatch(
                format!("redirect query {name}"),
                e,
                show_texts(&values),
            )),
            Ok(()) => out.pass(format!("redirect query {name}")),
        }
    }
    for name in &r.absent {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if !values.is_empty() {
            out.push(mismatch(
                format!("redirect query {name}"),
                "(absent)",
                show_texts(&values),
            ));
        }
    }
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
}

fn check_html(h: &HtmlExpect, body: Option<&str>, out: &mut Checks) {
    let raw = body.unwrap_or("");
    let text = unescape_html(raw);
    let excerpt = || show(Some(&Value::String(raw.to_string())));
    for needle in &h.contains {
        if !raw.contains(needle.as_str()) && !text.contains(needle.as_str()) {
            out.push(mismatch(
                "html contains",
                show(Some(&Value::String(needle.clone()))),
                excerpt(),
            ));
        }
    }
    for needle in &h.not_contains {
        // The raw body only: `&lt;script` must not count as `<script`.
        if raw.contains(needle.as_str()) {
            out.push(mismatch(
                "html not_contains",
                show(Some(&Value::String(needle.clone()))),
                excerpt(),
            ));
        }
    }
}

fn entry_texts<'a>(entry: &'a Value, section: &str, name: &str) -> Vec<&'a str> {
    let Some(Value::Object(map)) = entry.get(section) else {
        return vec![];
    };
    map.iter()
        .filter(|(k, _)| {
            if section == "headers" {
                k.eq_ignore_ascii_case(name)
            } else {
                k.as_str() == name
            }
        })
        .filter_map(|(_, v)| v.as_str())
        .collect()
}

fn entry_label(entry: &Value) -> String {
    format!(
        "#{} {} {}",
        entry.get("seq").map(|v| v.to_string()).unwrap_or_default(),
        entry.get("method").and_then(Value::as_str).unwrap_or("?"),
        entry.get("path").and_then(Value::as_str).unwrap_or("?")
    )
}

fn check_entries(label: &str, j: &JournalExpect, entries: &[&Value], out: &mut Checks) {
    if let Some(count) = &j.count {
        let n = Value::from(entries.len());
        if let Err(e) = check_value(Some(&n), count) {
            out.push(mismatch(format!("{label} count"), e, n.to_string()));
        }
    }
    let has_matchers = !j.form.is_empty()
        || !j.query.is_empty()
        || !j.headers.is_empty()
        || j.client_auth.is_some();
    // Matchers over no request at all would pass vacuously: demand one, unless `count` says
    // how many there must be.
    if has_matchers && entries.is_empty() && j.count.is_none() {
        out.push(mismatch(
            label,
            "at least one matching IdP request",
            "(none recorded)",
        ));
        return;
    }
    for entry in entries {
        let el = entry_label(entry);
        for (section, map) in [
            ("form", &j.form),
            ("query", &j.query),
            ("headers", &j.headers),
        ] {
            for (name, exp) in map.iter() {
                let values = entry_texts(entry, section, name);
                if let Err(e) = check_text(&values, exp) {
                    let sec = if section == "headers" {
                        "header"
                    } else {
                        section
                    };
                    out.push(mismatch(
                        format!("{label} {el} {sec} {name}"),
                        e,
                        show_texts(&values),
                    ));
                }
            }
        }
        if let Some(exp) = &j.client_auth {
            let actual = entry.get("client_auth").filter(|v| !v.is_null());
            let res = match exp {
                Value::String(_) | Value::Null => {
                    let values: Vec<&str> = actual.and_then(Value::as_str).into_iter().collect();
                    check_text(&values, exp)
                }
                other => check_value(actual, other),
            };
            if let Err(e) = res {
                out.push(mismatch(
                    format!("{label} {el} client_auth"),
                    e,
                    show(actual),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(v: Value) -> Expect {
        serde_json::from_value(v).unwrap()
    }

    fn obs_json(status: u16, body: Value) -> Observation {
        Observation {
            status: Some(status),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: Some(body.to_string()),
            json: Some(body),
            ..Default::default()
        }
    }

    #[test]
    fn any_of_needs_one_whole_alternative() {
        let frame = json!({"any_of": [
            {"headers": {"x-frame-options": "regex:(?i)^deny$"}},
            {"headers": {"content-security-policy": {"contains": "frame-ancestors 'none'"}}},
        ]});
        let keys = JwtKeys::default();
        let mut o = obs_json(200, json!({}));
        let m = check(&expect(frame.clone()), &o, &keys);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].what, "any of 2 alternatives");
        assert!(m[0].expected.contains("header x-frame-options"), "{}", m[0]);
        assert!(m[0].expected.contains("frame-ancestors"), "{}", m[0]);
        o.headers.push(("x-frame-options".into(), "DENY".into()));
        assert!(check(&expect(frame.clone()), &o, &keys).is_empty());
        o.headers.pop();
        o.headers.push((
            "content-security-policy".into(),
            "default-src 'self'; frame-ancestors 'none'".into(),
        ));
        assert!(check(&expect(frame), &o, &keys).is_empty());
        // Every check of the alternative must hold, not just one of them.
        let both = json!({"any_of": [{"status": 200, "headers": {"x-frame-options": "DENY"}}]});
        assert_eq!(check(&expect(both), &o, &keys).len(), 1);
    }

    #[test]
    fn status_forms() {
        let o = obs_json(201, json!({}));
        assert!(check(&expect(json!({"status": 201})), &o, &JwtKeys::default()).is_empty());
        assert!(check(&expect(json!({"status": "2xx"})), &o, &JwtKeys::default()).is_empty());
        assert!(
            check(
                &expect(json!({"status": [200, 201]})),
                &o,
                &JwtKeys::default()
            )
            .is_empty()
        );
        let m = check(&expect(json!({"status": "4xx"})), &o, &JwtKeys::default());
        assert_eq!(m, vec![mismatch("status", "4xx", "201")]);
        assert!(StatusMatcher::parse(&json!("abc")).is_err());
        assert!(StatusMatcher::parse(&json!(99)).is_err());
    }

    #[test]
    fn headers_exact_regex_absent() {
        let o = obs_json(200, json!({}));
        let ok = expect(json!({"headers": {
            "Cache-Control": "no-store", "content-type": "regex:^application/json",
            "www-authenticate": {"absent": true}, "x-none": null }}));
        assert!(check(&ok, &o, &JwtKeys::default()).is_empty());
        let bad = expect(
            json!({"headers": {"cache-control": "no-cache", "content-type": {"absent": true}}}),
        );
        let m = check(&bad, &o, &JwtKeys::default());
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].actual, "\"no-store\"");
    }

    #[test]
    fn json_values_and_predicates() {
        let o = obs_json(
            400,
            json!({"error": "invalid_redirect_uri", "n": 5, "list": ["a", "b"], "obj": {"x": 1}}),
        );
        let ok = expect(json!({"json": {
            "$.error": "invalid_redirect_uri",
            "$.n": {"gt": 4, "lt": 6, "type": "integer"},
            "$.list": {"contains": "a", "length": 2},
            "$.list[*]": {"one_of": [["a", "b"]]},
            "$.missing": {"absent": true},
            "$.error_description": {"exists": false},
            "$.obj": {"x": 1},
            "$.error ": {"absent": true}
        }}));
        let m = check(&ok, &o, &JwtKeys::default());
        assert!(m.iter().all(|x| x.what == "json $.error "), "{m:?}");
        let bad = expect(json!({"json": {
            "$.error": {"regex": "^invalid_client$"},
            "$.n": {"one_of": [1, 2]},
            "$.list": {"not_contains": "b"},
            "$.absent": "x"
        }}));
        let m = check(&bad, &o, &JwtKeys::default());
        assert_eq!(m.len(), 4, "{m:?}");
        let find = |w: &str| m.iter().find(|x| x.what == w).unwrap();
        assert_eq!(find("json $.absent").actual, "(absent)");
        assert_eq!(find("json $.error").expected, "regex: \"^invalid_client$\"");
        assert_eq!(find("json $.n").actual, "5");
    }

    #[test]
    fn json_on_non_json_body() {
        let o = Observation {
            status: Some(200),
            body: Some("<html>".into()),
            ..Default::default()
        };
        let m = check(
            &expect(json!({"json": {"$.a": 1}})),
            &o,
            &JwtKeys::default(),
        );
        assert_eq!(m.len(), 1);
        assert!(m[0].actual.contains("not JSON"));
    }

    #[test]
    fn query_checks_when_redirected_only() {
        let e =
            expect(json!({"redirect": {"when_redirected": true, "query": {"iss": "http://p"}}}));
        let none = evaluate(&e, &Observation::default(), &JwtKeys::default()).0;
        assert_eq!(none.len(), 1);
        assert!(
            matches!(none[0].status, CheckStatus::NotChecked { .. }),
            "{none:?}"
        );
        let wrong = Observation {
            redirect: Some("http://localhost:3000/cb?iss=http%3A%2F%2Fq".into()),
            ..Default::default()
        };
        assert_eq!(check(&e, &wrong, &JwtKeys::default()).len(), 1);
    }

    #[test]
    fn redirect_target_and_query() {
        let o = Observation {
            redirect: Some("http://localhost:3000/cb?code=abc&state=s1&iss=http%3A%2F%2Fp".into()),
            ..Default::default()
        };
        let ok = expect(json!({"redirect": {"to": "http://localhost:3000/cb",
            "query": {"state": "s1", "iss": "http://p", "code": {"exists": true}}, "absent": ["error"]}}));
        assert!(check(&ok, &o, &JwtKeys::default()).is_empty());
        let origin = expect(json!({"redirect": {"to": "http://localhost:3000"}}));
        assert!(check(&origin, &o, &JwtKeys::default()).is_empty());
        let bad = expect(
            json!({"redirect": {"to": "http://localhost:3000/c", "query": {"error": "access_denied"}, "absent": ["code"]}}),
        );
        let m = check(&bad, &o, &JwtKeys::default());
        assert_eq!(m.len(), 3, "{m:?}");
        let none = Observation::default();
        assert_eq!(check(&ok, &none, &JwtKeys::default()).len(), 1);
        assert!(
            check(
                &expect(json!({"redirect": {"present": false}})),
                &none,
                &JwtKeys::default()
            )
            .is_empty()
        );
        assert_eq!(
            check(
                &expect(json!({"redirect": {"present": false}})),
                &o,
                &JwtKeys::default()
            )
            .len(),
            1
        );
    }

    #[test]
    fn html_contains() {
        let o = Observation {
            body: Some("<p>Allow &quot;My App&quot; to access</p>".into()),
            ..Default::default()
        };
        assert!(
            check(
                &expect(json!({"html": {"contains": "\"My App\"", "not_contains": ["<script"]}})),
                &o,
                &JwtKeys::default()
            )
            .is_empty()
        );
        assert_eq!(
            check(
                &expect(json!({"html": {"contains": ["Deny"], "not_contains": "Allow"}})),
                &o,
                &JwtKeys::default()
            )
            .len(),
            2
        );
    }

    #[test]
    fn journal_matchers() {
        let entry = json!({"seq": 3, "method": "POST", "path": "/token",
            "form": {"client_id": "upstream-app", "client_secret": "s3cret"},
            "query": {}, "headers": {"content-type": "application/x-www-form-urlencoded"},
            "client_auth": "client_secret_post", "status": 200});
        let other = json!({"seq": 2, "method": "GET", "path": "/authorize", "form": {}, "query": {"login_hint": "alice"}, "headers": {}, "client_auth": null});
        let o = Observation {
            journal: vec![other.clone(), entry.clone()],
            ..Default::default()
        };
        let ok = expect(
            json!({"journal": {"path": "/token", "count": 1, "client_auth": "client_secret_post",
            "form": {"client_id": "upstream-app"}, "headers": {"authorization": null}}}),
        );
        assert!(check(&ok, &o, &JwtKeys::default()).is_empty());
        let bad = expect(
            json!({"journal": {"path": "/token", "count": {"gt": 1}, "client_auth": "client_secret_basic",
            "form": {"client_secret": null}}}),
        );
        assert_eq!(check(&bad, &o, &JwtKeys::default()).len(), 3);
        let none =
            expect(json!({"journal": {"path": "/revoke", "form": {"token": {"exists": true}}}}));
        assert_eq!(check(&none, &o, &JwtKeys::default()).len(), 1);
        // idp.journal steps: the shorthand keys apply to the selected entries.
        let sel = Observation {
            selected: Some(vec![entry]),
            ..Default::default()
        };
        let ok = expect(
            json!({"count": 1, "form": {"client_id": "upstream-app"}, "client_auth": "client_secret_post"}),
        );
        assert!(check(&ok, &sel, &JwtKeys::default()).is_empty());
        let bad = expect(json!({"count": 0, "headers": {"authorization": {"exists": true}}}));
        assert_eq!(check(&bad, &sel, &JwtKeys::default()).len(), 2);
    }

    #[test]
    fn jwt_claims_and_signature() {
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let token = encode(
            &Header::new(Algorithm::HS256),
            &json!({"iss": "http://p", "aud": "http://p/mcp", "scope": "a b", "exp": 100}),
            &EncodingKey::from_secret(b"secret-key"),
        )
        .unwrap();
        let o = obs_json(200, json!({"access_token": token, "token_type": "Bearer"}));
        let keys = JwtKeys {
            jwks: vec![],
            hmac: vec![("http://p".into(), b"secret-key".to_vec())],
        };
        let flat =
            expect(json!({"jwt": {"access_token": {"aud": "http://p/mcp", "exp": {"gt": 99}}}}));
        assert!(check(&flat, &o, &keys).is_empty());
        let structured = expect(
            json!({"jwt": {"$.access_token": {"header": {"alg": "HS256"}, "claims": {"iss": "http://p"}, "signature": "valid"}}}),
        );
        assert!(check(&structured, &o, &keys).is_empty());
        let wrong_key = JwtKeys {
            jwks: vec![],
            hmac: vec![("http://p".into(), b"nope".to_vec())],
        };
        let m = check(&structured, &o, &wrong_key);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].actual, "invalid");
        let bad = expect(
            json!({"jwt": {"access_token": {"claims": {"aud": "x"}}, "token_type": {"claims": {}}}}),
        );
        let m = check(&bad, &o, &keys);
        assert_eq!(m.len(), 2, "{m:?}");
    }

    #[test]
    fn string_contains_every_listed_part() {
        assert!(check_value(Some(&json!("a b c")), &json!({"contains": ["a", "c"]})).is_ok());
        assert!(check_value(Some(&json!("a b c")), &json!({"contains": ["a", "d"]})).is_err());
    }

    #[test]
    fn text_numbers_compare_as_strings() {
        assert!(check_text(&["3"], &json!(3)).is_ok());
        assert!(check_text(&["true"], &json!(true)).is_ok());
        assert!(check_text(&[], &json!({"absent": true})).is_ok());
        assert!(check_text(&["x"], &json!({"absent": true})).is_err());
    }
}
