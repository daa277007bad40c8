//! The token endpoint: authorization_code (+PKCE), refresh_token, client_credentials.

use crate::client_auth;
use crate::config::{ClientConfig, Flavor, Rotation};
use crate::error::OAuthError;
use crate::flavors;
use crate::ids::{b64url, sha256};
use crate::params::{FormBody, Params};
use crate::state::Idp;
use crate::store::{Grant, key_of};
use crate::tokens::{self, Issued, Subject};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `POST {token}`.
pub async fn post(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    form: Result<FormBody, OAuthError>,
) -> Response {
    let json = idp.flavor != Flavor::Github || accepts_json(&headers);
    let result = form.and_then(|FormBody(p)| grant(&idp, &headers, &p));
    match result {
        Ok(issued) => success(&idp, &issued, json),
        Err(e) => failure(&idp, e, json),
    }
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("application/json"))
}

fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn success(idp: &Idp, issued: &Issued, json: bool) -> Response {
    let mut body = tokens::response_json(issued, idp.flavor);
    if idp.settings.read().tokens.send_refresh_expires_in
        && idp.flavor != Flavor::Github
        && issued.refresh_token.is_some()
        && let (Some(o), Some(e)) = (body.as_object_mut(), issued.refresh_expires_in)
    {
        o.insert("refresh_expires_in".into(), e.into());
    }
    let mut resp = if json {
        axum::Json(body).into_response()
    } else {
        form_response(StatusCode::OK, &body)
    };
    no_store(&mut resp);
    resp
}

/// A form-encoded answer (GitHub without `Accept: application/json`).
fn form_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    if let Some(o) = body.as_object() {
        for (k, v) in o {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ser.append_pair(k, &v);
        }
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        ser.finish(),
    )
        .into_response()
}

fn failure(idp: &Idp, e: OAuthError, json: bool) -> Response {
    if idp.flavor == Flavor::Github {
        let status = if idp.settings.read().github.errors_with_status_200 {
            StatusCode::OK
        } else {
            e.status
        };
        let mut body = e.body();
        body["error_uri"] = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors".into();
        let mut resp = if json {
            (status, axum::Json(body)).into_response()
        } else {
            form_response(status, &body)
        };
        no_store(&mut resp);
        return resp;
    }
    e.into_response()
}

fn grant(idp: &Idp, headers: &HeaderMap, p: &Params) -> Result<Issued, OAuthError> {
    let grant_type = p.require("grant_type")?;
    let audience = [
        idp.endpoint_url(idp.paths.token),
        idp.issuer.clone(),
        idp.base.clone(),
    ];
    let (client, _) = client_auth::authenticate(idp, headers, p, &audience)?;
    if client.reject_resource && !p.all("resource").is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes.",
        ));
    }
    if !flavors::grant_types(idp.flavor).contains(&grant_type) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {grant_type:?} is not supported"),
        ));
    }
    if !client.grant_types.is_empty() && !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "the client may not use {grant_type}"
        )));
    }
    match grant_type {
        "authorization_code" => code_grant(idp, &client, p),
        "refresh_token" => refresh_grant(idp, &client, p),
        "client_credentials" => client_credentials(idp, &client, p),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unsupported grant_type",
        )),
    }
}

/// RFC 7636 §4.6.
fn pkce_ok(verifier: &str, challenge: &str, method: &str) -> bool {
    let computed = match method {
        "S256" => b64url(&sha256(verifier.as_bytes())),
        _ => verifier.to_string(),
    };
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
        .is_ok()
}

fn code_grant(idp: &Idp, client: &ClientConfig, p: &Params) -> Result<Issued, OAuthError> {
    let code = p.require("code")?;
    let redirect_uri = p.get("redirect_uri")?;
    let verifier = p.get("code_verifier")?;
    let now = idp.clock.now_unix();
    let rec = {
        let mut codes = idp.store.codes.lock();
        let Some(rec) = codes.get_mut(code) else {
            return Err(OAuthError::invalid_grant("unknown authorization code"));
        };
        if rec.used {
            let grant = rec.grant_id.clone();
            drop(codes);
            if !grant.is_empty() {
                idp.store.revoke_grant(&grant);
            }
            return Err(OAuthError::invalid_grant(
                "authorization code already used; the tokens it issued are revoked",
            ));
        }
        if rec.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        if rec.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        if let Some(want) = &rec.redirect_uri
            && redirect_uri != Some(want.as_str())
        {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&rec.challenge, verifier) {
            (Some((c, m)), Some(v)) => {
                if !crate::endpoints::authorize::is_pkce_text(v) || !pkce_ok(v, c, m) {
                    return Err(OAuthError::invalid_grant("PKCE verification failed"));
                }
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("missing code_verifier")),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier sent but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        rec.used = true;
        rec.grant_id = tokens::new_grant(
            idp,
            Grant {
                client_id: client.id.clone(),
                sub: Some(rec.sub.clone()),
                scope: rec.scope.clone(),
                resources: rec.resources.clone(),
                auth_time: rec.auth_time,
                sid: tokens::new_sid(idp),
                revoked: false,
                expires_at: rec.expires_at,
            },
        );
        rec.clone()
    };
    let resources = token_resources(p, &rec.resources);
    let sid = idp
        .store
        .grants
        .lock()
        .get(&rec.grant_id)
        .map(|g| g.sid.clone());
    let subject = Subject {
        client,
        user: Some(&rec.sub),
        scope: &rec.scope,
        resources: &resources,
        grant_id: Some(&rec.grant_id),
        sid: sid.as_deref(),
        auth_time: Some(rec.auth_time),
    };
    let (access_token, expires_in) = tokens::access_token(idp, &subject)?;
    let id_token =
        if flavors::issues_id_tokens(idp.flavor) && tokens::has_scope(&rec.scope, "openid") {
            Some(tokens::id_token(
                idp,
                &subject,
                rec.nonce.as_deref(),
                &access_token,
            )?)
        } else {
            None
        };
    let policy = idp.settings.read().refresh_issue();
    let offline_ok = !client.offline_via_access_type || rec.offline;
    let (refresh_token, refresh_expires_in) =
        if offline_ok && tokens::wants_refresh(policy, &rec.scope) {
            let (t, e) = tokens::refresh_token(idp, &rec.grant_id, &client.id, &rec.scope);
            (Some(t), e)
        } else {
            (None, None)
        };
    Ok(Issued {
        access_token,
        expires_in,
        scope: rec.scope,
        id_token,
        refresh_token,
        refresh_expires_in,
    })
}

/// A `resource` at the token endpoint narrows the audience; absent, the authorization
/// request's resources apply.
fn token_resources(p: &Params, from_authorize: &[String]) -> Vec<String> {
    let at_token: Vec<String> = p.all("resource").into_iter().map(String::from).collect();
    if at_token.is_empty() {
        from_authorize.to_vec()
    } else {
        at_token
    }
}

fn narrowed_scope(requested: Option<&str>, granted: &str) -> Result<String, OAuthError> {
    let Some(req) = requested else {
        return Ok(granted.to_string());
    };
    let granted_set: Vec<&str> = granted.split(' ').collect();
    let mut out = Vec::new();
    for s in req.split(' ').filter(|s| !s.is_empty()) {
        if !granted_set.contains(&s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s:?} was not granted"
            )));
        }
        out.push(s);
    }
    Ok(out.join(" "))
}

fn refresh_grant(idp: &Idp, client: &ClientConfig, p: &Params) -> Result<Issued, OAuthError> {
    let token = p.require("refresh_token")?;
    if client.refresh_requires_scope && p.get("scope")?.is_none_or(|s| s.trim().is_empty()) {
        return Err(OAuthError::invalid_request(
            "AADSTS90014: The required field 'scope' is missing from the credential.",
        ));
    }
    let now = idp.clock.now_unix();
    let rotation = idp.settings.read().tokens.refresh_rotation;
    let key = key_of(token);
    let rec = {
        let mut map = idp.store.refresh.lock();
        let Some(rec) = map.get_mut(&key) else {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        };
        if rec.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "refresh token was issued to another client",
            ));
        }
        if rec.exp <= now {
            return Err(OAuthError::invalid_grant("refresh token expired"));
        }
        if rec.revoked {
            return Err(OAuthError::invalid_grant("refresh token revoked"));
        }
        if rec.used {
            let grant = rec.grant_id.clone();
            drop(map);
            if rotation == Rotation::ReuseDetection {
                idp.store.revoke_grant(&grant);
                return Err(OAuthError::invalid_grant(
                    "refresh token reused; the whole grant is revoked",
                ));
            }
            return Err(OAuthError::invalid_grant("refresh token already used"));
        }
        if rotation != Rotation::Off {
            rec.used = true;
        }
        rec.clone()
    };
    let grant = idp
        .store
        .grants
        .lock()
        .get(&rec.grant_id)
        .cloned()
        .filter(|g| !g.revoked)
        .ok_or_else(|| OAuthError::invalid_grant("the grant was revoked"))?;
    let scope = narrowed_scope(p.get("scope")?, &rec.scope)?;
    let resources = token_resources(p, &grant.resources);
    let subject = Subject {
        client,
        user: grant.sub.as_deref(),
        scope: &scope,
        resources: &resources,
        grant_id: Some(&rec.grant_id),
        sid: Some(&grant.sid),
        auth_time: Some(grant.auth_time),
    };
    let (access_token, expires_in) = tokens::access_token(idp, &subject)?;
    let id_token = if flavors::issues_id_tokens(idp.flavor)
        && idp.settings.read().tokens.id_token_on_refresh
        && tokens::has_scope(&scope, "openid")
    {
        Some(tokens::id_token(idp, &subject, None, &access_token)?)
    } else {
        None
    };
    let (refresh_token, refresh_expires_in) = if rotation == Rotation::Off {
        let ttl = idp.settings.read().tokens.refresh_token_ttl_secs;
        (
            Some(token.to_string()),
            (ttl > 0).then(|| (rec.exp - now).max(0) as u64),
        )
    } else {
        let (t, e) = tokens::refresh_token(idp, &rec.grant_id, &client.id, &rec.scope);
        (Some(t), e)
    };
    Ok(Issued {
        access_token,
        expires_in,
        scope,
        id_token,
        refresh_token,
        refresh_expires_in,
    })
}

fn client_credentials(idp: &Idp, client: &ClientConfig, p: &Params) -> Result<Issued, OAuthError> {
    if client.auth_method() == crate::config::AuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scope = p
        .get("scope")?
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !client.scopes.is_empty()
        && let Some(bad) = scope
            .split(' ')
            .find(|s| !s.is_empty() && !client.scopes.iter().any(|c| c == s))
    {
        return Err(OAuthError::invalid_scope(format!(
            "scope {bad:?} is not allowed for this client"
        )));
    }
    let resources: Vec<String> = p.all("resource").into_iter().map(String::from).collect();
    let subject = Subject {
        client,
        user: None,
        scope: &scope,
        resources: &resources,
        grant_id: None,
        sid: None,
        auth_time: None,
    };
    let (access_token, expires_in) = tokens::access_token(idp, &subject)?;
    Ok(Issued {
        access_token,
        expires_in,
        scope,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert!(pkce_ok(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "S256"
        ));
        assert!(!pkce_ok(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "x",
            "S256"
        ));
        assert!(pkce_ok("abc", "abc", "plain"));
    }

    #[test]
    fn refresh_scope_can_only_narrow() {
        assert_eq!(
            narrowed_scope(None, "openid email").unwrap(),
            "openid email"
        );
        assert_eq!(
            narrowed_scope(Some("email"), "openid email").unwrap(),
            "email"
        );
        assert_eq!(
            narrowed_scope(Some("admin"), "openid").unwrap_err().error,
            "invalid_scope"
        );
    }
}
