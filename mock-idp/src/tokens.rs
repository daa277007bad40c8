//! Minting access, ID and refresh tokens, per flavor, and recording them in the store.

use crate::config::{AccessTokenFormat, ClientConfig, Flavor, KeyAlgorithm, RefreshIssue};
use crate::error::OAuthError;
use crate::ids::{self, b64url, sha256};
use crate::state::Idp;
use crate::store::{AccessRecord, Grant, RefreshRecord, key_of};
use serde_json::{Map, Value, json};

/// Who the tokens are for.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The client.
    pub client: &'a ClientConfig,
    /// The user (None for client_credentials).
    pub user: Option<&'a str>,
    /// Granted scope.
    pub scope: &'a str,
    /// RFC 8707 resources (the access token's audience when given).
    pub resources: &'a [String],
    /// Grant the tokens belong to.
    pub grant_id: Option<&'a str>,
    /// Session id (workos `sid`).
    pub sid: Option<&'a str>,
    /// When the user logged in.
    pub auth_time: Option<i64>,
}

/// A token response's content.
#[derive(Debug, Clone, Default)]
pub struct Issued {
    /// Access token.
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scope.
    pub scope: String,
    /// ID token.
    pub id_token: Option<String>,
    /// Refresh token.
    pub refresh_token: Option<String>,
    /// Refresh-token lifetime (GitHub's `refresh_token_expires_in`).
    pub refresh_expires_in: Option<u64>,
}

fn internal(e: anyhow::Error) -> OAuthError {
    OAuthError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        e.to_string(),
    )
}

/// Whether `scope` contains `name`.
pub fn has_scope(scope: &str, name: &str) -> bool {
    scope.split(' ').any(|s| s == name)
}

/// Whether a code grant with `scope` gets a refresh token.
pub fn wants_refresh(policy: RefreshIssue, scope: &str) -> bool {
    match policy {
        RefreshIssue::Always => true,
        RefreshIssue::OfflineAccess => has_scope(scope, "offline_access"),
        RefreshIssue::Never => false,
    }
}

/// `at_hash` for an ID token signed with `alg` (OIDC Core §3.1.3.6): the left half of the
/// access token's hash, with the hash of `alg`: SHA-256 for RS256 and ES256, SHA-512 for
/// EdDSA on Ed25519 (the OpenID Connect WG's answer for EdDSA, connect issue #1125).
pub fn at_hash(alg: KeyAlgorithm, access_token: &str) -> String {
    match alg {
        KeyAlgorithm::Rs256 | KeyAlgorithm::Es256 => b64url(&sha256(access_token.as_bytes())[..16]),
        KeyAlgorithm::EdDsa => {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, access_token.as_bytes());
            b64url(&d.as_ref()[..32])
        }
    }
}

fn org_id(idp: &Idp, user_claims: Option<&Map<String, Value>>) -> String {
    if let Some(v) = user_claims
        .and_then(|c| c.get("org_id"))
        .and_then(|v| v.as_str())
    {
        return v.to_string();
    }
    let configured = idp.settings.read().workos.organization_id.clone();
    configured.unwrap_or_else(|| {
        // Stable per issuer, so every token of a run names the same organization.
        let h = sha256(idp.issuer.as_bytes());
        let mut r = [0u8; 10];
        r.copy_from_slice(&h[..10]);
        format!("org_{}", ids::ulid_from(1_700_000_000_000, r))
    })
}

/// Mint an access token (and record it). Returns the token and its lifetime.
pub fn access_token(idp: &Idp, s: &Subject<'_>) -> Result<(String, u64), OAuthError> {
    let (ttl, format) = {
        let st = idp.settings.read();
        (
            st.tokens.access_token_ttl_secs,
            st.tokens.access_token_format,
        )
    };
    let now = idp.clock.now_unix();
    let exp = now.saturating_add(ttl as i64);
    let sub = s.user.unwrap_or(&s.client.id).to_string();
    let aud: Vec<String> = if s.resources.is_empty() {
        vec![s.client.id.clone()]
    } else {
        s.resources.to_vec()
    };
    let jti = match idp.flavor {
        Flavor::Workos => ids::ulid(idp.clock.now_millis()),
        _ => ids::random_token(),
    };
    let token = if idp.flavor == Flavor::Github {
        github_token("gho_", 36)
    } else if format == AccessTokenFormat::Opaque
        || s.client
            .audience
            .as_ref()
            .is_some_and(|api| !s.resources.contains(api))
    {
        // Auth0 without `audience`: an opaque token, good for userinfo only.
        ids::random_token()
    } else {
        let user_claims = s
            .user
            .and_then(|u| idp.users.read().get(u).map(|u| u.claims.clone()));
        let mut c = Map::new();
        c.insert("iss".into(), json!(idp.issuer));
        c.insert("sub".into(), json!(sub));
        c.insert(
            "aud".into(),
            if aud.len() == 1 {
                json!(aud[0])
            } else {
                json!(aud)
            },
        );
        c.insert("client_id".into(), json!(s.client.id));
        c.insert("scope".into(), json!(s.scope));
        c.insert("iat".into(), json!(now));
        c.insert("exp".into(), json!(exp));
        c.insert("jti".into(), json!(jti));
        if idp.flavor == Flavor::Workos {
            if let (Some(sid), Some(_)) = (s.sid, s.user) {
                c.insert("sid".into(), json!(sid));
            }
            c.insert("org_id".into(), json!(org_id(idp, user_claims.as_ref())));
        } else if let Some(t) = s.auth_time {
            c.insert("auth_time".into(), json!(t));
        }
        for (k, v) in &s.client.access_token_claims {
            c.insert(k.clone(), v.clone());
        }
        let typ = if idp.flavor == Flavor::Oidc {
            "at+jwt"
        } else {
            "JWT"
        };
        idp.signing_key()
            .sign(typ, &Value::Object(c), None)
            .map_err(internal)?
    };
    idp.store.access.lock().insert(
        key_of(&token),
        AccessRecord {
            grant_id: s.grant_id.map(String::from),
            client_id: s.client.id.clone(),
            sub,
            user: s.user.is_some(),
            scope: s.scope.to_string(),
            aud,
            iat: now,
            exp,
            jti,
            revoked: false,
        },
    );
    if let Some(g) = s.grant_id {
        idp.store.extend_grant(g, exp);
    }
    Ok((token, ttl))
}

/// Mint an ID token for a user.
pub fn id_token(
    idp: &Idp,
    s: &Subject<'_>,
    nonce: Option<&str>,
    access_token: &str,
) -> Result<String, OAuthError> {
    let ttl = idp.settings.read().tokens.id_token_ttl_secs;
    let now = idp.clock.now_unix();
    let sub = s.user.unwrap_or(&s.client.id);
    let mut c = Map::new();
    if let Some(u) = idp.users.read().get(sub) {
        for (k, v) in &u.claims {
            c.insert(k.clone(), v.clone());
        }
    }
    c.insert("iss".into(), json!(idp.issuer));
    c.insert("sub".into(), json!(sub));
    c.insert("aud".into(), json!(s.client.id));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now.saturating_add(ttl as i64)));
    if let Some(t) = s.auth_time {
        c.insert("auth_time".into(), json!(t));
    }
    if let Some(n) = nonce {
        c.insert("nonce".into(), json!(n));
    }
    // One key for the hash and the signature, whatever a rotation does meanwhile.
    let key = idp.signing_key();
    c.insert(
        "at_hash".into(),
        json!(at_hash(key.algorithm(), access_token)),
    );
    c.remove("org_id");
    key.sign("JWT", &Value::Object(c), None).map_err(internal)
}

/// Mint and record a refresh token for a grant.
pub fn refresh_token(
    idp: &Idp,
    grant_id: &str,
    client_id: &str,
    scope: &str,
) -> (String, Option<u64>) {
    let ttl = idp.settings.read().tokens.refresh_token_ttl_secs;
    let now = idp.clock.now_unix();
    let exp = if ttl == 0 {
        i64::MAX
    } else {
        now.saturating_add(ttl as i64)
    };
    let token = if idp.flavor == Flavor::Github {
        github_token("ghr_", 76)
    } else {
        ids::random_token()
    };
    idp.store.refresh.lock().insert(
        key_of(&token),
        RefreshRecord {
            grant_id: grant_id.to_string(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            exp,
            used: false,
            revoked: false,
        },
    );
    idp.store.extend_grant(grant_id, exp);
    (token, (ttl > 0).then_some(ttl))
}

/// Start a grant (a code redemption or a client_credentials request).
pub fn new_grant(idp: &Idp, g: Grant) -> String {
    let id = ids::random_token();
    idp.store.grants.lock().insert(id.clone(), g);
    id
}

/// A new session / consent id in the flavor's style.
pub fn new_sid(idp: &Idp) -> String {
    match idp.flavor {
        Flavor::Workos => ids::prefixed("app_consent", idp.clock.now_millis()),
        _ => ids::random_token()[..22].to_string(),
    }
}

fn github_token(prefix: &str, len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = ids::random_bytes::<96>();
    let body: String = bytes
        .iter()
        .take(len)
        .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
        .collect();
    format!("{prefix}{body}")
}

/// The JSON of a token response.
pub fn response_json(i: &Issued, flavor: Flavor) -> Value {
    let mut m = Map::new();
    m.insert("access_token".into(), json!(i.access_token));
    if flavor == Flavor::Github {
        m.insert("token_type".into(), json!("bearer"));
        m.insert(
            "scope".into(),
            json!(
                i.scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        );
        if let Some(r) = &i.refresh_token {
            m.insert("expires_in".into(), json!(i.expires_in));
            m.insert("refresh_token".into(), json!(r));
            if let Some(e) = i.refresh_expires_in {
                m.insert("refresh_token_expires_in".into(), json!(e));
            }
        }
        return Value::Object(m);
    }
    m.insert("token_type".into(), json!("Bearer"));
    m.insert("expires_in".into(), json!(i.expires_in));
    if !i.scope.is_empty() {
        m.insert("scope".into(), json!(i.scope));
    }
    if let Some(r) = &i.refresh_token {
        m.insert("refresh_token".into(), json!(r));
    }
    if let Some(t) = &i.id_token {
        m.insert("id_token".into(), json!(t));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core examples: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" is
        // "77QmUPtjPfzWtF2AnpK9RQ".
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(
            at_hash(KeyAlgorithm::Rs256, token),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            at_hash(KeyAlgorithm::Es256, token),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        // EdDSA: the left 256 bits of SHA-512, as computed by
        // `printf %s TOKEN | openssl dgst -sha512 -binary | head -c 32 | base64` (url-safe).
        assert_eq!(
            at_hash(KeyAlgorithm::EdDsa, token),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
    }

    #[test]
    fn refresh_policy() {
        assert!(wants_refresh(RefreshIssue::Always, "openid"));
        assert!(!wants_refresh(RefreshIssue::OfflineAccess, "openid"));
        assert!(wants_refresh(
            RefreshIssue::OfflineAccess,
            "openid offline_access"
        ));
        assert!(!wants_refresh(RefreshIssue::Never, "offline_access"));
    }

    #[test]
    fn github_tokens_have_prefixes() {
        let t = github_token("gho_", 36);
        assert!(t.starts_with("gho_") && t.len() == 40, "{t}");
    }
}
