//! `save:` sources: where a captured variable comes from.
//!
//! - `$.path` — JSONPath over the JSON body (or the selected journal entries);
//! - `header:NAME` — a response header;
//! - `query:NAME` — a query parameter of the redirect (authorization response or `Location`);
//! - `jwt:FIELD:$.claim` — a claim of the JWT held in a body field (FIELD may be a JSONPath);
//! - `regex:PATTERN` — the first capture group (or the whole match) of PATTERN in the body;
//! - `status`, `body`, `redirect`, `url` — the status code, the raw body, the redirect URL,
//!   the URL of the last request (for `authorize`: the last page fetched).

use super::expect::Observation;
use super::jwt;
use serde_json::Value;
use serde_json_path::JsonPath;

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Json(String),
    Header(String),
    Query(String),
    Jwt { field: String, claim: String },
    Regex(String),
    Status,
    Url,
    Body,
    Redirect,
}

/// Parse a source; the error says what forms exist.
pub fn parse_source(s: &str) -> Result<Source, String> {
    let s = s.trim();
    const FORMS: &str = "expected `$.json.path`, `header:NAME`, `query:NAME`, \
                         `jwt:FIELD:$.claim`, `regex:PATTERN`, `status`, `body`, `redirect` or `url`";
    if s.starts_with('$') {
        JsonPath::parse(s).map_err(|e| format!("`{s}` is not a JSONPath: {e}"))?;
        return Ok(Source::Json(s.to_string()));
    }
    if let Some(h) = s.strip_prefix("header:") {
        return Ok(Source::Header(h.trim().to_ascii_lowercase()));
    }
    if let Some(q) = s.strip_prefix("query:") {
        return Ok(Source::Query(q.trim().to_string()));
    }
    if let Some(p) = s.strip_prefix("regex:") {
        regex::Regex::new(p).map_err(|e| format!("`{p}` is not a valid regex: {e}"))?;
        return Ok(Source::Regex(p.to_string()));
    }
    if let Some(rest) = s.strip_prefix("jwt:") {
        let (field, claim) = match rest.find(":$") {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => return Err(format!("`{s}`: {FORMS}")),
        };
        JsonPath::parse(claim).map_err(|e| format!("`{claim}` is not a JSONPath: {e}"))?;
        if field.is_empty() {
            return Err(format!("`{s}`: the JWT field is missing; {FORMS}"));
        }
        return Ok(Source::Jwt {
            field: field.to_string(),
            claim: claim.to_string(),
        });
    }
    match s {
        "status" => Ok(Source::Status),
        "body" => Ok(Source::Body),
        "redirect" => Ok(Source::Redirect),
        "url" => Ok(Source::Url),
        _ => Err(format!("`{s}`: {FORMS}")),
    }
}

fn json_query(doc: &Value, path: &str) -> Option<Value> {
    let p = JsonPath::parse(path).ok()?;
    let nodes = p.query(doc).all();
    match nodes.len() {
        0 => None,
        1 => Some(nodes[0].clone()),
        _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
    }
}

/// Extract a value; `Err` says what was missing.
pub fn extract(source: &Source, obs: &Observation) -> Result<Value, String> {
    match source {
        Source::Json(path) => {
            let doc = match (&obs.selected, &obs.json) {
                (Some(sel), _) if sel.len() == 1 => sel[0].clone(),
                (Some(sel), _) => Value::Array(sel.clone()),
                (None, Some(j)) => j.clone(),
                (None, None) => return Err("the response has no JSON body".into()),
            };
            json_query(&doc, path).ok_or_else(|| format!("`{path}` matched nothing"))
        }
        Source::Header(name) => obs
            .header_values(name)
            .first()
            .map(|v| Value::String((*v).to_string()))
            .ok_or_else(|| format!("no `{name}` header")),
        Source::Query(name) => {
            let r = obs
                .redirect
                .as_deref()
                .or(obs.url.as_deref())
                .ok_or("there was no redirect")?;
            let url = url::Url::parse(r).map_err(|e| format!("the redirect is not a URL: {e}"))?;
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Value::String(v.into_owned()))
                .ok_or_else(|| format!("the redirect has no `{name}` parameter"))
        }
        Source::Jwt { field, claim } => {
            let doc = obs.json.as_ref().ok_or("the response has no JSON body")?;
            let token = if field.starts_with('$') {
                json_query(doc, field)
            } else {
                doc.get(field).cloned()
            };
            let token = token
                .and_then(|t| t.as_str().map(str::to_string))
                .ok_or_else(|| format!("no JWT in `{field}`"))?;
            let decoded = jwt::decode(&token)?;
            json_query(&decoded.claims, claim)
                .ok_or_else(|| format!("the JWT in `{field}` has no `{claim}`"))
        }
        Source::Regex(p) => {
            let re = regex::Regex::new(p).map_err(|e| e.to_string())?;
            let body = obs.body.as_deref().unwrap_or("");
            let caps = re
                .captures(body)
                .ok_or_else(|| format!("/{p}/ does not match the body"))?;
            let m = caps
                .get(1)
                .or_else(|| caps.get(0))
                .map(|m| m.as_str())
                .unwrap_or("");
            Ok(Value::String(m.to_string()))
        }
        Source::Url => obs
            .url
            .clone()
            .map(Value::String)
            .ok_or_else(|| "there was no request".into()),
        Source::Status => obs
            .status
            .map(Value::from)
            .ok_or_else(|| "there was no HTTP response".into()),
        Source::Body => obs
            .body
            .clone()
            .map(Value::String)
            .ok_or_else(|| "there was no body".into()),
        Source::Redirect => obs
            .redirect
            .clone()
            .map(Value::String)
            .ok_or_else(|| "there was no redirect".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sources_parse_and_extract() {
        let o = Observation {
            status: Some(201),
            headers: vec![("location".into(), "http://x/cb?code=c1".into())],
            body: Some("{}".into()),
            json: Some(json!({"client_id": "abc", "n": 2})),
            redirect: Some("http://x/cb?code=c1&state=s".into()),
            ..Default::default()
        };
        let get = |s: &str| extract(&parse_source(s).unwrap(), &o);
        assert_eq!(get("$.client_id").unwrap(), json!("abc"));
        assert_eq!(get("$.n").unwrap(), json!(2));
        assert_eq!(
            get("header:Location").unwrap(),
            json!("http://x/cb?code=c1")
        );
        assert_eq!(get("query:state").unwrap(), json!("s"));
        assert_eq!(get("status").unwrap(), json!(201));
        let html = Observation {
            body: Some(r#"<input name="csrf" value="tok-1">"#.into()),
            ..Default::default()
        };
        let re = parse_source(r#"regex:name="csrf" value="([^"]+)""#).unwrap();
        assert_eq!(extract(&re, &html).unwrap(), json!("tok-1"));
        assert!(parse_source("regex:(").is_err());
        assert!(get("$.missing").unwrap_err().contains("matched nothing"));
        assert!(get("query:nope").is_err());
        assert!(parse_source("headers:x").unwrap_err().contains("expected"));
        assert!(parse_source("jwt:access_token").is_err());
        assert_eq!(
            parse_source("jwt:access_token:$.sub").unwrap(),
            Source::Jwt {
                field: "access_token".into(),
                claim: "$.sub".into()
            }
        );
    }
}
