//! /token, /revoke and the bearer guard: replay, binding, PKCE, token_use, content types,
//! sizes, refresh rotation.

mod proxy_common;

use authproof::client::{ClientAuth, Param, RefreshRequest, TokenCodeRequest};
use authproof::proxy::store::{Collection, Held, Store, StoreError, StoreFuture};
use proxy_common::*;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn err(ex: &authproof::client::Exchange) -> String {
    ex.json_str("error").unwrap_or("").to_string()
}

#[tokio::test]
async fn replayed_code_revokes_what_it_issued() {
    let env = start("client_secret_basic").await;
    let (fc, _) = env.authorized().await;
    let code = fc.memory().code.unwrap();
    let first = fc.token_code(TokenCodeRequest::default()).await.unwrap();
    assert_eq!(first.status, 200);
    let access = first.json_str("access_token").unwrap().to_string();
    assert_eq!(fc.mcp(&access, &mcp_init()).await.unwrap().status, 200);
    let replay = fc
        .token_code(TokenCodeRequest {
            code: code.clone().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(replay.status, 400);
    assert_eq!(err(&replay), "invalid_grant");
    assert_eq!(replay.header("cache-control"), Some("no-store"));
    assert_eq!(
        fc.mcp(&access, &mcp_init()).await.unwrap().status,
        401,
        "tokens from the code are revoked"
    );
    let refresh = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(
        err(&refresh),
        "invalid_grant",
        "refresh from the code is revoked too"
    );
    env.stop().await;
}

#[tokio::test]
async fn code_is_bound_to_verifier_redirect_and_client() {
    let env = start("client_secret_basic").await;
    // Wrong verifier: invalid_grant, and the code is gone.
    let (fc, _) = env.authorized().await;
    let wrong = authproof::oauth::pkce::new_verifier();
    let r = fc
        .token_code(TokenCodeRequest {
            code_verifier: wrong.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (r.status, err(&r).as_str()),
        (400, "invalid_grant"),
        "{}",
        r.body
    );
    let r = fc.token_code(TokenCodeRequest::default()).await.unwrap();
    assert_eq!(
        err(&r),
        "invalid_grant",
        "a failed redemption consumes the code"
    );
    // Missing verifier.
    let (fc, _) = env.authorized().await;
    let r = fc
        .token_code(TokenCodeRequest {
            code_verifier: Param::Omit,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_request");
    // Another redirect URI.
    let (fc, _) = env.authorized().await;
    let r = fc
        .token_code(TokenCodeRequest {
            redirect_uri: "http://localhost:3000/other".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_grant");
    // Omitting redirect_uri when it was sent is also a mismatch.
    let (fc, _) = env.authorized().await;
    let r = fc
        .token_code(TokenCodeRequest {
            redirect_uri: Param::Omit,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_grant");
    // Another client.
    let (fc, _) = env.authorized().await;
    let other = env.registered().await;
    let other_id = other.memory().client_id.unwrap();
    let r = fc
        .token_code(TokenCodeRequest {
            client_id: other_id.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_grant");
    // Wrong resource.
    let (fc, _) = env.authorized().await;
    let r = fc
        .token_code(TokenCodeRequest {
            resource: "http://x.example/mcp".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_target");
    env.stop().await;
}

#[tokio::test]
async fn client_authentication_for_public_clients() {
    let env = start("client_secret_basic").await;
    let (fc, _) = env.authorized().await;
    let r = fc
        .token_code(TokenCodeRequest {
            client_id: Param::Omit,
            auth: ClientAuth::Nothing,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r.status, err(&r).as_str()), (401, "invalid_client"));
    let r = fc
        .token_code(TokenCodeRequest {
            client_id: "unknown".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r.status, err(&r).as_str()), (401, "invalid_client"));
    let r = fc
        .token_code(TokenCodeRequest {
            auth: ClientAuth::Post {
                secret: "guess".into(),
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r.status, err(&r).as_str()), (401, "invalid_client"));
    let r = fc
        .token_code(TokenCodeRequest {
            auth: ClientAuth::Basic {
                secret: "guess".into(),
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r.status, err(&r).as_str()), (401, "invalid_client"));
    // Basic with an empty secret is a public client's way too.
    let r = fc
        .token_code(TokenCodeRequest {
            auth: ClientAuth::Basic {
                secret: String::new(),
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    env.stop().await;
}

#[tokio::test]
async fn form_rules() {
    let env = start("client_secret_basic").await;
    let url = format!("{}/token", env.proxy.url());
    let http = http();
    let r = http
        .post(&url)
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
    let r = http.post(&url).body("grant_type=x").send().await.unwrap();
    assert_eq!(r.status(), 400, "no content type");
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&grant_type=refresh_token&client_id=a")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("repeated")
    );
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&client_id=a")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");
    // Oversize bodies: with a Content-Length and streamed.
    let big = format!(
        "grant_type=authorization_code&code={}",
        "a".repeat(200 * 1024)
    );
    let r = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
    let raw = post_chunked(&env.proxy.url(), "/token", big.as_bytes()).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"error\":\"invalid_request\""), "{raw}");
    // Revocation and registration answer oversize bodies the same way.
    let r = http
        .post(format!("{}/register", env.proxy.url()))
        .header("content-type", "application/json")
        .body(format!("{{\"x\":\"{}\"}}", "a".repeat(200 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    env.stop().await;
}

/// POST a chunked body (no Content-Length) over a raw connection; returns the response text.
async fn post_chunked(base: &str, path: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url::Url::parse(base).unwrap();
    let mut s = tokio::net::TcpStream::connect((addr.host_str().unwrap(), addr.port().unwrap()))
        .await
        .unwrap();
    let host = format!("{}:{}", addr.host_str().unwrap(), addr.port().unwrap());
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8192) {
        // The server may stop reading once the limit is reached.
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || s.write_all(chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn token_use_is_enforced() {
    let env = start("client_secret_basic").await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = fc.mcp(refresh, &mcp_init()).await.unwrap();
    assert_eq!(r.status, 401, "refresh token as bearer");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let r = fc
        .refresh(RefreshRequest {
            refresh_token: access.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_grant", "access token as refresh token");
    // The upstream IdP's own access token is not accepted at the MCP path.
    let grant_upstream = {
        let st = env.proxy.state();
        let claims = st
            .tokens
            .verify(access, authproof::proxy::jwt::TokenUse::Access)
            .unwrap();
        let mapping = st.records.get_token(&claims.jti).await.unwrap().unwrap();
        st.records
            .get_grant(&mapping.grant_id)
            .await
            .unwrap()
            .unwrap()
            .upstream
            .access_token
    };
    assert_eq!(
        fc.mcp(&grant_upstream, &mcp_init()).await.unwrap().status,
        401,
        "upstream token passthrough"
    );
    // A token in the query string is ignored.
    let url = format!("{}?access_token={access}", fc.memory().endpoints.mcp);
    let r = http().post(url).json(&mcp_init()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(fc.mcp(access, &mcp_init()).await.unwrap().status, 200);
    env.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_by_the_shared_clock() {
    let env = start_with("client_secret_basic", |c| {
        c.access_token_ttl = authproof::proxy::config::HumanDuration::secs(60)
    })
    .await;
    let (fc, tokens) = env.with_tokens().await;
    assert_eq!(tokens["expires_in"], 60);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(fc.mcp(access, &mcp_init()).await.unwrap().status, 200);
    env.clock.advance(Duration::from_secs(61));
    assert_eq!(fc.mcp(access, &mcp_init()).await.unwrap().status, 401);
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        fc.mcp(r.json_str("access_token").unwrap(), &mcp_init())
            .await
            .unwrap()
            .status,
        200
    );
    env.stop().await;
}

#[tokio::test]
async fn refresh_rotation_and_reuse() {
    let env = start("client_secret_basic").await;
    let (fc, tokens) = env.with_tokens().await;
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let r1 = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r1.status, 200, "{}", r1.body);
    let rt1 = r1.json_str("refresh_token").unwrap().to_string();
    assert_ne!(rt0, rt1);
    // Narrowing is allowed, widening is not.
    let r = fc
        .refresh(RefreshRequest {
            scope: "openid".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json_str("scope"), Some("openid"));
    let rt2 = r.json_str("refresh_token").unwrap().to_string();
    let r = fc
        .refresh(RefreshRequest {
            scope: "openid admin".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_scope");
    // Reusing a rotated refresh token revokes the family: the newest token dies too.
    let r = fc
        .refresh(RefreshRequest {
            refresh_token: rt0.clone().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_grant");
    let r = fc
        .refresh(RefreshRequest {
            refresh_token: rt2.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(err(&r), "invalid_grant", "family revoked");
    let access = r1.json_str("access_token").unwrap();
    assert_eq!(
        fc.mcp(access, &mcp_init()).await.unwrap().status,
        401,
        "grant revoked"
    );
    env.stop().await;
}

/// No scope requested and none offered: the token responses omit `scope` (RFC 6749 §3.3: a
/// scope is one or more tokens; §5.1 lets the server omit it) instead of sending `""`.
#[tokio::test]
async fn no_scope_granted_means_no_scope_member() {
    let env = start_with("client_secret_basic", |c| c.valid_scopes = Vec::new()).await;
    let (fc, tokens) = env.with_tokens().await;
    assert!(tokens.get("scope").is_none(), "{tokens}");
    assert!(tokens["access_token"].is_string(), "{tokens}");
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let refreshed = r.json.clone().expect("json");
    assert!(refreshed.get("scope").is_none(), "{refreshed}");
    assert!(refreshed["refresh_token"].is_string(), "{refreshed}");
    env.stop().await;
}

#[tokio::test]
async fn upstream_refresh_failures() {
    let env = start("client_secret_post").await;
    let (fc, _) = env.with_tokens().await;
    // IdP down: temporarily_unavailable, and the same refresh token still works afterwards.
    env.fault(
        "match: {endpoint: token}\ntimes: once\naction: {respond: {status: 503, body: down}}\n",
    );
    let rt = fc.memory().refresh_token.unwrap();
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(
        (r.status, err(&r).as_str()),
        (503, "temporarily_unavailable"),
        "{}",
        r.body
    );
    let r = fc
        .refresh(RefreshRequest {
            refresh_token: rt.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.status, 200, "nothing lost: {}", r.body);
    // IdP garbage: server_error.
    env.fault("match: {endpoint: token}\ntimes: once\naction: malformed_json\n");
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(err(&r), "server_error", "{}", r.body);
    // IdP invalid_grant: invalid_grant to the client, and the grant is gone.
    env.fault("match: {endpoint: token}\ntimes: once\naction: {respond: {status: 400, json: {error: invalid_grant}}}\n");
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(err(&r), "invalid_grant", "{}", r.body);
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(err(&r), "invalid_grant");
    env.stop().await;
}

#[tokio::test]
async fn revoke_rules() {
    let env = start("client_secret_basic").await;
    let (fc, tokens) = env.with_tokens().await;
    let url = format!("{}/revoke", env.proxy.url());
    let client_id = fc.memory().client_id.unwrap();
    let http = http();
    let r = http
        .post(&url)
        .form(&[("token", "garbage"), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "unknown tokens: 200");
    let r = http
        .post(&url)
        .form(&[("token", "garbage")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "client_id required");
    // Another client cannot revoke this client's token.
    let other = env.registered().await.memory().client_id.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let r = http
        .post(&url)
        .form(&[("token", access), ("client_id", other.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        fc.mcp(access, &mcp_init()).await.unwrap().status,
        200,
        "still valid"
    );
    env.idp.clear_journal();
    let r = http
        .post(&url)
        .form(&[("token", access), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        fc.mcp(access, &mcp_init()).await.unwrap().status,
        401,
        "revoked"
    );
    // The grant has a refresh family, so its upstream tokens stay (see proxy_refresh.rs for
    // the grant without refresh, whose upstream tokens are revoked).
    assert!(
        env.journal("/revoke").is_empty(),
        "nothing revoked upstream"
    );
    env.stop().await;
}

/// A store that counts the writes made to one collection and, when `failing` is set, fails
/// them (and otherwise is a memory store).
struct CountingWrites {
    inner: authproof::proxy::store::MemoryStore,
    watched: Collection,
    writes: AtomicU64,
    failing: AtomicBool,
}

impl CountingWrites {
    fn new(clock: authproof::mock_idp::Clock, watched: Collection) -> CountingWrites {
        CountingWrites {
            inner: authproof::proxy::store::MemoryStore::new(clock),
            watched,
            writes: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// Count a write; `true` when it must fail.
    fn count(&self, c: Collection) -> bool {
        if c == self.watched {
            self.writes.fetch_add(1, Ordering::Relaxed);
            return self.failing.load(Ordering::Relaxed);
        }
        false
    }
}

/// A proxy over a store that counts (and on demand fails) the writes to `watched`.
async fn start_counting(
    watched: Collection,
    tweak: impl FnOnce(&mut authproof::proxy::config::ProxyConfig),
) -> (Env, Arc<CountingWrites>) {
    let clock = authproof::mock_idp::Clock::system();
    let store = Arc::new(CountingWrites::new(clock.clone(), watched));
    let env = start_on_store("client_secret_basic", clock, store.clone(), tweak).await;
    (env, store)
}

fn unavailable<'a, T: Send + 'a>() -> StoreFuture<'a, T> {
    Box::pin(async { Err(StoreError::Unavailable("switched off by the test".into())) })
}

impl Store for CountingWrites {
    fn get<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.inner.get(c, key)
    }
    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        v: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.put(c, key, v, ttl)
    }
    fn put_if_absent<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        v: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.put_if_absent(c, key, v, ttl)
    }
    fn take<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.take(c, key)
    }
    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.delete(c, key)
    }
    fn compare_and_swap<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
        new: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.compare_and_swap(c, key, expected, new, ttl)
    }
    fn delete_if<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.delete_if(c, key, expected)
    }
    fn put_capped<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        v: Vec<u8>,
        ttl: Duration,
        cap: authproof::proxy::store::Cap<'a>,
    ) -> StoreFuture<'a, u64> {
        if self.count(c) {
            return unavailable();
        }
        self.inner.put_capped(c, key, v, ttl, cap)
    }
    fn held(&self) -> StoreFuture<'_, Held> {
        self.inner.held()
    }
}

/// A flood of made-up codes leaves nothing behind: no used-code record (the durable
/// collection a code exchange writes), no tokens; the real code still redeems once, and is
/// remembered as used.
#[tokio::test]
async fn a_made_up_code_leaves_nothing_behind() {
    let (env, store) = start_counting(Collection::UsedCodes, |_| {}).await;
    let (fc, _) = env.authorized().await;
    for _ in 0..3 {
        let r = fc
            .token_code(TokenCodeRequest {
                code: authproof::oauth::random_token(24).into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(err(&r), "invalid_grant");
    }
    assert_eq!(
        store.writes.load(Ordering::Relaxed),
        0,
        "no used-code record for made-up codes"
    );
    let held = store.held().await.unwrap();
    assert_eq!(held.get(Collection::TokenMappings), 0);
    let r = fc.token_code(TokenCodeRequest::default()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        store.writes.load(Ordering::Relaxed),
        1,
        "the real one is remembered"
    );
    let r = fc.token_code(TokenCodeRequest::default()).await.unwrap();
    assert_eq!(err(&r), "invalid_grant", "and redeems once");
    env.stop().await;
}

/// A refresh whose access token cannot be stored fails with 503, and puts the family back:
/// the same refresh token still works once the store does (it was not rotated away, so the
/// retry is not taken for a replay).
#[tokio::test]
async fn a_refresh_that_cannot_store_its_access_token_leaves_the_refresh_token_usable() {
    let (env, store) = start_counting(Collection::TokenMappings, |c| {
        // Without a grace window a rotated-away token would be a replay.
        c.refresh_grace_window = authproof::proxy::config::HumanDuration::secs(0);
    })
    .await;
    let (fc, tokens) = env.with_tokens().await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let again = || RefreshRequest {
        refresh_token: refresh_token.clone().into(),
        ..Default::default()
    };
    store.failing.store(true, Ordering::Relaxed);
    let r = fc.refresh(again()).await.unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(err(&r), "temporarily_unavailable");
    store.failing.store(false, Ordering::Relaxed);
    let r = fc.refresh(again()).await.unwrap();
    assert_eq!(r.status, 200, "the same refresh token works: {}", r.body);
    let access = r.json_str("access_token").unwrap().to_string();
    assert_eq!(fc.mcp(&access, &mcp_init()).await.unwrap().status, 200);
    env.stop().await;
}

/// A code exchange whose refresh family cannot be stored issues nothing: 503, and no access
/// token mapping is left behind for the token that was never handed out.
#[tokio::test]
async fn a_code_exchange_that_cannot_store_its_family_leaves_no_access_token() {
    let (env, store) = start_counting(Collection::RefreshFamilies, |_| {}).await;
    let (fc, _) = env.authorized().await;
    store.failing.store(true, Ordering::Relaxed);
    let r = fc.token_code(TokenCodeRequest::default()).await.unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(err(&r), "temporarily_unavailable");
    assert_eq!(
        store.held().await.unwrap().get(Collection::TokenMappings),
        0,
        "the access token's mapping was removed"
    );
    env.stop().await;
}
