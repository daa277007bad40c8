//! Discovery as an MCP client does it (MCP 2025-11-25, mirrored from the TS SDK's order):
//! an unauthenticated `initialize` to the MCP URL, the 401's `WWW-Authenticate`
//! `resource_metadata` (else the path-inserted, then the root RFC 9728 well-known URL), then
//! the first authorization server's RFC 8414 / OIDC metadata.

use super::{ClientError, Exchange, FlowClient, RawBody, Read};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use url::Url;

/// A parsed `WWW-Authenticate: Bearer …` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// Auth-params by lower-case name (quoted values unescaped).
    pub params: BTreeMap<String, String>,
}

impl BearerChallenge {
    /// Parses a header value; `None` unless its scheme is `Bearer` (any case).
    pub fn parse(header: &str) -> Option<BearerChallenge> {
        let header = header.trim();
        let (scheme, rest) = match header.split_once([' ', '\t']) {
            Some((s, r)) => (s, r),
            None => (header, ""),
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut params = BTreeMap::new();
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            while i < bytes.len() && (bytes[i] == b',' || bytes[i].is_ascii_whitespace()) {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b',' {
                i += 1;
            }
            let name = rest[start..i].trim().to_ascii_lowercase();
            if i >= bytes.len() || bytes[i] != b'=' {
                continue; // a bare token68 or garbage: no value
            }
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < bytes.len() && bytes[i] == b'"' {
                i += 1;
                let mut chars = rest[i..].char_indices();
                let mut end = rest.len() - i;
                while let Some((offset, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = offset + 1;
                            break;
                        }
                        other => value.push(other),
                    }
                }
                i += end;
            } else {
                let start = i;
                while i < bytes.len() && bytes[i] != b',' {
                    i += 1;
                }
                value = rest[start..i].trim().to_owned();
            }
            if !name.is_empty() {
                params.entry(name).or_insert(value);
            }
        }
        Some(BearerChallenge { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    pub fn resource_metadata(&self) -> Option<&str> {
        self.get("resource_metadata")
    }

    pub fn scope(&self) -> Option<&str> {
        self.get("scope")
    }

    pub fn error(&self) -> Option<&str> {
        self.get("error")
    }
}

/// RFC 9728 URLs for a resource, in probing order: path-inserted, then root.
pub fn prm_urls(resource: &Url) -> Vec<String> {
    let origin = origin_of(resource);
    let root = format!("{origin}/.well-known/oauth-protected-resource");
    let path = resource.path().trim_end_matches('/');
    if path.is_empty() {
        vec![root]
    } else {
        vec![format!("{root}{path}"), root]
    }
}

/// RFC 8414 / OIDC discovery URLs for an issuer, in probing order.
pub fn as_metadata_urls(issuer: &Url) -> Vec<String> {
    let origin = origin_of(issuer);
    let path = issuer.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// What discovery found, with every exchange it made.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// In order: the unauthenticated probe, the PRM attempts, the AS metadata attempts.
    pub exchanges: Vec<Exchange>,
    /// The probe's challenge, when it answered 401 with a Bearer challenge.
    pub challenge: Option<BearerChallenge>,
    pub resource_metadata_url: String,
    pub resource_metadata: Value,
    /// `authorization_servers[0]` of the PRM.
    pub authorization_server: String,
    pub as_metadata_url: String,
    pub as_metadata: Value,
}

impl Discovery {
    /// The PRM's `resource`.
    pub fn resource(&self) -> Option<&str> {
        self.resource_metadata.get("resource")?.as_str()
    }
}

impl FlowClient {
    /// Discovers the protected resource and its authorization server, starting from the MCP
    /// URL (`{base}/mcp` unless set), and remembers the endpoints, `resource` and scope.
    pub async fn discover(&self) -> Result<Discovery, ClientError> {
        let mcp_url = self.memory().endpoints.mcp;
        let mcp = self.resolve_url(&mcp_url)?;
        let mut exchanges = Vec::new();
        let fail =
            |reason: String, exchanges: Vec<Exchange>| ClientError::Discovery { reason, exchanges };

        let probe_body = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": { "name": "authproof", "version": env!("CARGO_PKG_VERSION") },
            },
        });
        let accept = [(
            "accept".to_owned(),
            "application/json, text/event-stream".to_owned(),
        )];
        let probe = self
            .send(
                "POST",
                mcp.clone(),
                &accept,
                &RawBody::Json(probe_body),
                Read::FirstSseEvent,
            )
            .await?;
        let challenge = if probe.status == 401 {
            probe
                .header_all("www-authenticate")
                .find_map(BearerChallenge::parse)
        } else {
            None
        };
        exchanges.push(probe);

        let json_accept = [("accept".to_owned(), "application/json".to_owned())];
        let candidates = match challenge
            .as_ref()
            .and_then(BearerChallenge::resource_metadata)
        {
            Some(url) => vec![url.to_owned()],
            None => prm_urls(&mcp),
        };
        let mut prm = None;
        for candidate in candidates {
            let url = self.resolve_url(&candidate)?;
            let ex = self
                .send("GET", url, &json_accept, &RawBody::None, Read::Full)
                .await?;
            let found = (ex.status == 200)
                .then(|| ex.json.clone())
                .flatten()
                .filter(|j| j.get("resource").is_some_and(Value::is_string));
            exchanges.push(ex);
            if let Some(doc) = found {
                prm = Some((candidate, doc));
                break;
            }
        }
        let Some((resource_metadata_url, resource_metadata)) = prm else {
            return Err(fail(
                "no protected resource metadata found".into(),
                exchanges,
            ));
        };
        let Some(authorization_server) = resource_metadata
            .get("authorization_servers")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(fail(
                "the protected resource metadata lists no authorization_servers".into(),
                exchanges,
            ));
        };
        let issuer = match Url::parse(&authorization_server) {
            Ok(u) => u,
            Err(e) => {
                return Err(fail(
                    format!("authorization server {authorization_server:?} is not a URL: {e}"),
                    exchanges,
                ));
            }
        };
        let mut as_found = None;
        for candidate in as_metadata_urls(&issuer) {
            let url = self.resolve_url(&candidate)?;
            let ex = self
                .send("GET", url, &json_accept, &RawBody::None, Read::Full)
                .await?;
            let found = (ex.status == 200)
                .then(|| ex.json.clone())
                .flatten()
                .filter(|j| {
                    ["issuer", "authorization_endpoint", "token_endpoint"]
                        .iter()
                        .all(|k| j.get(k).is_some_and(Value::is_string))
                });
            exchanges.push(ex);
            if let Some(doc) = found {
                as_found = Some((candidate, doc));
                break;
            }
        }
        let Some((as_metadata_url, as_metadata)) = as_found else {
            return Err(fail(
                format!("no authorization server metadata found for {authorization_server}"),
                exchanges,
            ));
        };

        let text = |doc: &Value, key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
        let scope = challenge
            .as_ref()
            .and_then(BearerChallenge::scope)
            .map(str::to_owned)
            .or_else(|| {
                let list = resource_metadata.get("scopes_supported")?.as_array()?;
                let joined: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                (!joined.is_empty()).then(|| joined.join(" "))
            });
        self.update_memory(|m| {
            m.resource = text(&resource_metadata, "resource");
            m.scope = scope;
            m.endpoints.issuer = text(&as_metadata, "issuer");
            if let Some(v) = text(&as_metadata, "authorization_endpoint") {
                m.endpoints.authorization = v;
            }
            if let Some(v) = text(&as_metadata, "token_endpoint") {
                m.endpoints.token = v;
            }
            if let Some(v) = text(&as_metadata, "registration_endpoint") {
                m.endpoints.registration = v;
            }
            if let Some(v) = text(&as_metadata, "revocation_endpoint") {
                m.endpoints.revocation = v;
            }
        });
        Ok(Discovery {
            exchanges,
            challenge,
            resource_metadata_url,
            resource_metadata,
            authorization_server,
            as_metadata_url,
            as_metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = BearerChallenge::parse(
            r#"Bearer resource_metadata="http://h/.well-known/oauth-protected-resource/mcp", scope="a b", error="invalid_token", error_description="say \"hi\", ok""#,
        )
        .unwrap();
        assert_eq!(
            c.resource_metadata(),
            Some("http://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.scope(), Some("a b"));
        assert_eq!(c.error(), Some("invalid_token"));
        assert_eq!(c.get("error_description"), Some("say \"hi\", ok"));
        let bare = BearerChallenge::parse("bearer").unwrap();
        assert!(bare.params.is_empty());
        let unquoted = BearerChallenge::parse("BEARER realm=x,scope=\"s\"").unwrap();
        assert_eq!(unquoted.get("realm"), Some("x"));
        assert_eq!(unquoted.scope(), Some("s"));
        assert!(BearerChallenge::parse("Basic realm=\"x\"").is_none());
        assert!(BearerChallenge::parse("Bearer =,,\"").is_some());
        assert!(BearerChallenge::parse("Bearer a=\"unterminated").is_some());
    }

    #[test]
    fn well_known_urls() {
        let mcp = Url::parse("http://h:1/mcp").unwrap();
        assert_eq!(
            prm_urls(&mcp),
            [
                "http://h:1/.well-known/oauth-protected-resource/mcp",
                "http://h:1/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(
            prm_urls(&Url::parse("http://h/").unwrap()),
            ["http://h/.well-known/oauth-protected-resource"]
        );
        assert_eq!(
            as_metadata_urls(&Url::parse("http://h:1").unwrap()),
            [
                "http://h:1/.well-known/oauth-authorization-server",
                "http://h:1/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            as_metadata_urls(&Url::parse("https://h/tenant1").unwrap()),
            [
                "https://h/.well-known/oauth-authorization-server/tenant1",
                "https://h/.well-known/openid-configuration/tenant1",
                "https://h/tenant1/.well-known/openid-configuration",
            ]
        );
    }
}
