//! Refresh semantics end to end, against the real mock IdP: rotation with the grace window,
//! reuse detection, every upstream refresh behaviour, concurrency (32 parallel refreshes,
//! 16 concurrent MCP calls sharing one upstream refresh, two instances sharing one store),
//! lifetimes of the stored state, and upstream revocation.

mod proxy_common;

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use authproof::mock_idp::config::Rotation;
use authproof::mock_idp::{self, Clock, IdpConfig, JournalEntry, MockIdp};
use authproof::oauth::sha256_hex;
use authproof::proxy::config::{HumanDuration, ProxyConfig};
use authproof::proxy::store::{Grant, MemoryStore, RefreshFamily, Store};
use authproof::proxy::upstream::Upstream;
use authproof::proxy::{Proxy, SpawnOptions};
use proxy_common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

async fn setup(
    method: &str,
    idp_tweak: impl FnOnce(&mut IdpConfig),
    proxy_tweak: impl FnOnce(&mut ProxyConfig),
) -> Env {
    start_tweaked(method, idp_tweak, proxy_tweak).await
}

/// The IdP's refresh-token grants.
fn upstream_refreshes(env: &Env) -> Vec<JournalEntry> {
    env.journal("/token")
        .into_iter()
        .filter(|e| e.form.get("grant_type").map(String::as_str) == Some("refresh_token"))
        .collect()
}

struct Refreshed {
    status: u16,
    json: Value,
}

impl Refreshed {
    fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
    fn refresh_token(&self) -> String {
        self.json["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string()
    }
    fn access_token(&self) -> String {
        self.json["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}

/// A raw refresh-token grant.
async fn refresh(env: &Env, client_id: &str, rt: &str, scope: Option<&str>) -> Refreshed {
    refresh_at(&env.proxy.url(), client_id, rt, scope).await
}

/// A raw refresh-token grant at the proxy listening at `base`.
async fn refresh_at(base: &str, client_id: &str, rt: &str, scope: Option<&str>) -> Refreshed {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let r = http()
        .post(format!("{base}/token"))
        .form(&form)
        .send()
        .await
        .expect("token request");
    let status = r.status().as_u16();
    let json = r.json().await.unwrap_or(Value::Null);
    Refreshed { status, json }
}

fn client_id(fc: &FlowClient) -> String {
    fc.memory().client_id.expect("registered")
}

fn family_id(env: &Env, rt: &str) -> String {
    env.proxy
        .state()
        .tokens
        .verify_ignoring_expiry(rt)
        .expect("a proxy token")
        .fid
        .expect("a refresh token")
}

async fn family(env: &Env, fid: &str) -> Option<RefreshFamily> {
    env.proxy.state().records.get_family(fid).await.unwrap()
}

/// The id of the grant behind a proxy access token.
async fn grant_id_of(env: &Env, access: &str) -> String {
    let st = env.proxy.state();
    let jti = st.tokens.verify_ignoring_expiry(access).unwrap().jti;
    st.records.get_token(&jti).await.unwrap().unwrap().grant_id
}

async fn grant_exists(env: &Env, grant_id: &str) -> bool {
    let st = env.proxy.state();
    st.records.get_grant(grant_id).await.unwrap().is_some()
}

/// The grant behind a proxy access token.
async fn grant_of(env: &Env, access: &str) -> Option<Grant> {
    let st = env.proxy.state();
    let jti = st.tokens.verify_ignoring_expiry(access).ok()?.jti;
    let mapping = st.records.get_token(&jti).await.unwrap()?;
    st.records.get_grant(&mapping.grant_id).await.unwrap()
}

async fn mcp_status(fc: &FlowClient, access: &str) -> u16 {
    fc.mcp(access, &mcp_init()).await.expect("mcp").status
}

/// How many of `tokens` are the family's live refresh token.
/// A client logged in through a proxy with the given refresh grace window.
struct LoggedIn {
    env: Env,
    fc: FlowClient,
    /// The client's id.
    cid: String,
    /// Its first refresh token, and that token's family id.
    rt0: String,
    fid: String,
}

async fn logged_in_with_grace(secs: u64) -> LoggedIn {
    let env = setup(
        "client_secret_basic",
        |_| {},
        |c| c.refresh_grace_window = HumanDuration::secs(secs),
    )
    .await;
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let fid = family_id(&env, &rt0);
    LoggedIn {
        env,
        fc,
        cid,
        rt0,
        fid,
    }
}

fn live_among(fam: &RefreshFamily, tokens: &[String]) -> usize {
    tokens
        .iter()
        .filter(|t| sha256_hex(t.as_bytes()) == fam.current_hash)
        .count()
}

#[tokio::test]
async fn grace_window_lets_a_retry_through_and_revokes_the_earlier_successor() {
    let LoggedIn {
        env,
        fc,
        cid,
        rt0,
        fid,
    } = logged_in_with_grace(30).await;
    let first = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(upstream_refreshes(&env).len(), 1);
    env.clock.advance(Duration::from_secs(10));
    // The response was "lost": the client retries with the same token.
    let retry = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(retry.status, 200, "{}", retry.json);
    assert_ne!(retry.refresh_token(), first.refresh_token());
    assert_eq!(
        upstream_refreshes(&env).len(),
        1,
        "the retry uses the upstream tokens of the rotation"
    );
    let fam = family(&env, &fid).await.expect("family");
    assert_eq!(
        live_among(&fam, &[first.refresh_token(), retry.refresh_token()]),
        1
    );
    assert_eq!(
        fam.current_hash,
        sha256_hex(retry.refresh_token().as_bytes())
    );
    assert_eq!(mcp_status(&fc, &retry.access_token()).await, 200);
    // The earlier successor was revoked by the retry: presenting it is reuse.
    let stale = refresh(&env, &cid, &first.refresh_token(), None).await;
    assert_eq!((stale.status, stale.error()), (400, "invalid_grant"));
    assert!(family(&env, &fid).await.is_none(), "family revoked");
    let after = refresh(&env, &cid, &retry.refresh_token(), None).await;
    assert_eq!(after.error(), "invalid_grant");
    assert_eq!(mcp_status(&fc, &retry.access_token()).await, 401);
    env.stop().await;
}

#[tokio::test]
async fn outside_the_grace_window_the_rotated_token_revokes_the_family() {
    let LoggedIn {
        env,
        fc: _,
        cid,
        rt0,
        fid,
    } = logged_in_with_grace(30).await;
    let first = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(first.status, 200);
    let grant = grant_of(&env, &first.access_token()).await.expect("grant");
    env.clock.advance(Duration::from_secs(31));
    env.idp.clear_journal();
    let reuse = refresh(&env, &cid, &rt0, None).await;
    assert_eq!((reuse.status, reuse.error()), (400, "invalid_grant"));
    assert!(family(&env, &fid).await.is_none());
    assert!(grant_of(&env, &first.access_token()).await.is_none());
    let next = refresh(&env, &cid, &first.refresh_token(), None).await;
    assert_eq!(next.error(), "invalid_grant", "the successor died too");
    // Reuse detection revoked the upstream session as well.
    let revoked = env.journal("/revoke");
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        Some(&revoked[0].form["token"]),
        grant.upstream.refresh_token.as_ref()
    );
    env.stop().await;
}

/// The clock is frozen, so the replay arrives in the very instant (to the microsecond) the
/// rotation was stamped: a request that arrives once the swap is done replays the token, and
/// only one that arrived before it may be forgiven as a race. (At millisecond resolution a
/// fast machine once saw rotation and replay in the same millisecond and forgave the replay.)
#[tokio::test]
async fn a_replay_in_the_same_instant_as_the_rotation_is_still_reuse() {
    let LoggedIn {
        env,
        fc: _,
        cid,
        rt0,
        fid,
    } = logged_in_with_grace(0).await;
    env.clock.freeze();
    let first = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let replay = refresh(&env, &cid, &rt0, None).await;
    assert_eq!((replay.status, replay.error()), (400, "invalid_grant"));
    assert!(family(&env, &fid).await.is_none(), "the family is revoked");
    let next = refresh(&env, &cid, &first.refresh_token(), None).await;
    assert_eq!(next.error(), "invalid_grant", "the successor died too");
    env.stop().await;
}

#[tokio::test]
async fn thirty_two_parallel_refreshes_in_the_grace_window_leave_one_live_successor() {
    let env = setup("client_secret_post", reuse_detecting, |_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let fid = family_id(&env, &rt0);
    let env = Arc::new(env);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (env, cid, rt0) = (env.clone(), cid.clone(), rt0.clone());
        set.spawn(async move { refresh(&env, &cid, &rt0, None).await });
    }
    let mut issued = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(
            r.status, 200,
            "every request in the window succeeds: {}",
            r.json
        );
        issued.push(r.refresh_token());
    }
    let fam = family(&env, &fid).await.expect("family");
    assert_eq!(live_among(&fam, &issued), 1, "exactly one live successor");
    assert_eq!(
        upstream_refreshes(&env).len(),
        1,
        "one upstream refresh for the one rotation"
    );
    let live = issued
        .iter()
        .find(|t| sha256_hex(t.as_bytes()) == fam.current_hash)
        .unwrap()
        .clone();
    let next = refresh(&env, &cid, &live, None).await;
    assert_eq!(next.status, 200, "{}", next.json);
    let env = Arc::try_unwrap(env).ok().expect("sole owner");
    env.stop().await;
}

#[tokio::test]
async fn without_grace_parallel_refreshes_yield_exactly_one_successor() {
    // The IdP answers the one upstream refresh slowly, so every request is in flight while
    // the rotation happens (a request arriving after it would be a replay).
    let env = setup(
        "client_secret_basic",
        |_| {},
        |c| c.refresh_grace_window = HumanDuration::secs(0),
    )
    .await;
    let (fc, tokens) = env.with_tokens().await;
    env.fault("match: {endpoint: token, params: {grant_type: refresh_token}}\ndelay_ms: 300\n");
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let fid = family_id(&env, &rt0);
    let env = Arc::new(env);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (env, cid, rt0) = (env.clone(), cid.clone(), rt0.clone());
        set.spawn(async move { refresh(&env, &cid, &rt0, None).await });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        match r.status {
            200 => winners.push(r.refresh_token()),
            _ => assert_eq!((r.status, r.error()), (400, "invalid_grant"), "{}", r.json),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one request rotates");
    let fam = family(&env, &fid)
        .await
        .expect("losing a race is not a replay: the family lives");
    assert_eq!(live_among(&fam, &winners), 1);
    assert_eq!(upstream_refreshes(&env).len(), 1);
    let next = refresh(&env, &cid, &winners[0], None).await;
    assert_eq!(next.status, 200, "{}", next.json);
    let env = Arc::try_unwrap(env).ok().expect("sole owner");
    env.stop().await;
}

#[tokio::test]
async fn rotating_upstream_and_scope_narrowing() {
    let env = setup("client_secret_post", |_| {}, |_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let access0 = tokens["access_token"].as_str().unwrap().to_string();
    let up0 = grant_of(&env, &access0).await.unwrap().upstream;
    let r1 = refresh(&env, &cid, &rt0, Some("openid")).await;
    assert_eq!(r1.status, 200, "{}", r1.json);
    assert_eq!(r1.json["scope"], "openid");
    let up1 = grant_of(&env, &r1.access_token()).await.unwrap().upstream;
    assert_ne!(up1.refresh_token, up0.refresh_token, "the IdP rotated");
    assert_ne!(up1.access_token, up0.access_token);
    let calls = upstream_refreshes(&env);
    assert_eq!(
        Some(&calls[0].form["refresh_token"]),
        up0.refresh_token.as_ref()
    );
    assert!(
        !calls[0].form.contains_key("scope"),
        "narrowing applies to the proxy's tokens, not to the shared upstream grant"
    );
    assert_eq!(calls[0].client_auth.as_deref(), Some("client_secret_post"));
    // The next refresh spends the rotated upstream token, and may ask for the full scope.
    let r2 = refresh(&env, &cid, &r1.refresh_token(), None).await;
    assert_eq!(r2.status, 200, "{}", r2.json);
    assert_eq!(r2.json["scope"], "openid email");
    let calls = upstream_refreshes(&env);
    assert_eq!(
        Some(&calls[1].form["refresh_token"]),
        up1.refresh_token.as_ref()
    );
    env.stop().await;
}

#[tokio::test]
async fn non_rotating_and_silent_upstreams_keep_their_refresh_token() {
    for omit in [false, true] {
        let env = setup(
            "client_secret_basic",
            |c| c.tokens.refresh_rotation = Rotation::Off,
            |_| {},
        )
        .await;
        let (fc, tokens) = env.with_tokens().await;
        if omit {
            env.fault(
                "match: {endpoint: token, params: {grant_type: refresh_token}}\n\
                 times: always\naction: {token_response: {omit: [refresh_token]}}\n",
            );
        }
        let cid = client_id(&fc);
        let access0 = tokens["access_token"].as_str().unwrap();
        let up0 = grant_of(&env, access0).await.unwrap().upstream;
        let mut rt = tokens["refresh_token"].as_str().unwrap().to_string();
        for round in 0..3 {
            let r = refresh(&env, &cid, &rt, None).await;
            assert_eq!(r.status, 200, "omit={omit} round {round}: {}", r.json);
            let up = grant_of(&env, &r.access_token()).await.unwrap().upstream;
            assert_eq!(up.refresh_token, up0.refresh_token, "omit={omit}");
            assert_ne!(up.access_token, up0.access_token);
            assert_ne!(r.refresh_token(), rt, "the proxy's own tokens still rotate");
            rt = r.refresh_token();
        }
        let calls = upstream_refreshes(&env);
        assert_eq!(calls.len(), 3);
        assert!(
            calls
                .iter()
                .all(|c| Some(&c.form["refresh_token"]) == up0.refresh_token.as_ref())
        );
        env.stop().await;
    }
}

#[tokio::test]
async fn short_upstream_refresh_expiry_caps_the_family_not_the_access_token() {
    let env = setup("client_secret_basic", |_| {}, |_| {}).await;
    env.fault(
        "match: {endpoint: token}\ntimes: always\n\
         action: {token_response: {set: {refresh_expires_in: 30}}}\n",
    );
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let access0 = tokens["access_token"].as_str().unwrap().to_string();
    let st = env.proxy.state();
    let claims = st.tokens.verify_ignoring_expiry(&rt0).unwrap();
    assert!(
        claims.exp <= claims.iat + 30,
        "the proxy's refresh token never outlives the upstream one"
    );
    let fid = family_id(&env, &rt0);
    let fam = family(&env, &fid).await.unwrap();
    assert!(fam.expires_at <= env.clock.now_unix() + 30);
    assert!(
        fam.max_expires_at > fam.expires_at + 86_400,
        "the configured cap is long"
    );
    // The family slides with the upstream on every refresh.
    env.clock.advance(Duration::from_secs(20));
    let r1 = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(r1.status, 200, "{}", r1.json);
    env.clock.advance(Duration::from_secs(20));
    let r2 = refresh(&env, &cid, &r1.refresh_token(), None).await;
    assert_eq!(
        r2.status, 200,
        "40s after login, but 20s after the last refresh"
    );
    env.clock.advance(Duration::from_secs(31));
    assert!(
        family(&env, &fid).await.is_none(),
        "expired with the upstream token"
    );
    let r3 = refresh(&env, &cid, &r2.refresh_token(), None).await;
    assert_eq!((r3.status, r3.error()), (400, "invalid_grant"));
    // The access tokens (1h) still work: their grant outlives the family.
    assert_eq!(mcp_status(&fc, &r2.access_token()).await, 200);
    assert_eq!(mcp_status(&fc, &access0).await, 200);
    env.stop().await;
}

#[tokio::test]
async fn upstream_invalid_grant_ends_the_session() {
    let env = setup("client_secret_basic", |_| {}, |_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let access0 = tokens["access_token"].as_str().unwrap().to_string();
    let fid = family_id(&env, &rt0);
    env.fault(
        "match: {endpoint: token}\ntimes: once\n\
         action: {respond: {status: 400, json: {error: invalid_grant}}}\n",
    );
    let r = refresh(&env, &cid, &rt0, None).await;
    assert_eq!((r.status, r.error()), (400, "invalid_grant"), "{}", r.json);
    assert!(family(&env, &fid).await.is_none(), "family removed");
    assert!(grant_of(&env, &access0).await.is_none(), "grant removed");
    assert_eq!(mcp_status(&fc, &access0).await, 401);
    let again = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(again.error(), "invalid_grant");
    assert_eq!(upstream_refreshes(&env).len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn upstream_outages_lose_nothing() {
    let env = setup(
        "client_secret_basic",
        |_| {},
        |c| c.upstream.timeout = HumanDuration(Duration::from_millis(300)),
    )
    .await;
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let rt0 = tokens["refresh_token"].as_str().unwrap().to_string();
    let fid = family_id(&env, &rt0);
    let before = family(&env, &fid).await.unwrap();
    let faults = [
        "action: {respond: {status: 503, json: {error: temporarily_unavailable}}}",
        "action: {respond: {status: 502, body: bad gateway}}",
        "action: close",
        // Too slow (the IdP's state does not change: a canned late answer).
        "delay_ms: 1500\naction: {respond: {status: 200, json: {access_token: late}}}",
    ];
    for fault in faults {
        env.fault(&format!(
            "match: {{endpoint: token, params: {{grant_type: refresh_token}}}}\ntimes: once\n{fault}\n"
        ));
        let r = refresh(&env, &cid, &rt0, None).await;
        assert_eq!(
            (r.status, r.error()),
            (503, "temporarily_unavailable"),
            "{fault}: {}",
            r.json
        );
        assert_eq!(
            family(&env, &fid).await.as_ref(),
            Some(&before),
            "{fault}: nothing changed"
        );
    }
    let ok = refresh(&env, &cid, &rt0, None).await;
    assert_eq!(
        ok.status, 200,
        "the same token works once the IdP is back: {}",
        ok.json
    );
    assert_eq!(mcp_status(&fc, &ok.access_token()).await, 200);
    env.stop().await;
}

#[tokio::test]
async fn extra_token_params_never_clobber_what_the_proxy_sends() {
    let clock = Clock::system();
    let idp = MockIdp::builder()
        .config(idp_config("client_secret_post"))
        .clock(clock.clone())
        .spawn()
        .await
        .unwrap();
    let mut cfg = proxy_config(&idp, "client_secret_post").upstream;
    // What configuration validation would refuse; the request must be safe regardless.
    cfg.extra_token_params = BTreeMap::from([
        ("grant_type".to_string(), "client_credentials".to_string()),
        ("refresh_token".to_string(), "attacker".to_string()),
        ("scope".to_string(), "admin".to_string()),
        ("client_secret".to_string(), "other".to_string()),
        (
            "audience".to_string(),
            "https://api.example.com".to_string(),
        ),
    ]);
    let up = Upstream::new(cfg, "http://127.0.0.1:1/cb".into(), clock).unwrap();
    let previous = authproof::proxy::store::UpstreamTokens {
        access_token: "a".into(),
        token_type: "Bearer".into(),
        refresh_token: Some("the-real-one".into()),
        id_token: None,
        expires_at: None,
        refresh_expires_at: None,
        scope: None,
    };
    let e = up.refresh(&previous, None).await.unwrap_err();
    assert_eq!(e.to_token_error().error, "invalid_grant", "{e}");
    let entry = idp
        .journal()
        .into_iter()
        .find(|e| e.path == "/token")
        .unwrap();
    assert_eq!(entry.form["grant_type"], "refresh_token");
    assert_eq!(entry.form["refresh_token"], "the-real-one");
    assert_eq!(entry.form["client_secret"], "s3cret");
    assert!(!entry.form.contains_key("scope"));
    assert_eq!(entry.form["audience"], "https://api.example.com");
    idp.shutdown().await;
}

/// An IdP that revokes the whole session when a used refresh token comes back.
fn reuse_detecting(c: &mut IdpConfig) {
    c.tokens.refresh_rotation = Rotation::ReuseDetection;
}

/// A reuse-detecting IdP whose access tokens live 60 seconds, and a proxy whose live 30
/// minutes.
async fn short_upstream_tokens(tweak: impl FnOnce(&mut ProxyConfig)) -> Env {
    setup(
        "client_secret_basic",
        |c| {
            reuse_detecting(c);
            c.tokens.access_token_ttl_secs = 60;
        },
        |c| {
            c.access_token_ttl = HumanDuration::secs(1800);
            tweak(c);
        },
    )
    .await
}

/// `n` concurrent MCP calls with `access`, spread over the MCP URLs `urls`.
async fn concurrent_mcp(urls: &[String], access: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (url, access) = (urls[i % urls.len()].clone(), access.to_string());
        set.spawn(async move {
            http()
                .post(url)
                .bearer_auth(access)
                .header("accept", "application/json, text/event-stream")
                .json(&mcp_init())
                .send()
                .await
                .expect("mcp")
                .status()
                .as_u16()
        });
    }
    let mut out = Vec::new();
    while let Some(s) = set.join_next().await {
        out.push(s.unwrap());
    }
    out
}

#[tokio::test]
async fn guard_refreshes_upstream_once_for_sixteen_concurrent_calls() {
    let env = short_upstream_tokens(|_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let before = grant_of(&env, &access).await.unwrap().upstream;
    env.clock.advance(Duration::from_secs(120));
    env.idp.clear_journal();
    let statuses = concurrent_mcp(&[env.proxy.resource()], &access, 16).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let calls = upstream_refreshes(&env);
    assert_eq!(calls.len(), 1, "one upstream refresh shared by all");
    assert_eq!(calls[0].client_auth.as_deref(), Some("client_secret_basic"));
    assert_eq!(
        Some(&calls[0].form["refresh_token"]),
        before.refresh_token.as_ref()
    );
    let after = grant_of(&env, &access).await.unwrap().upstream;
    assert!(after.expires_at.unwrap() > env.clock.now_unix());
    assert_ne!(after.refresh_token, before.refresh_token);
    assert_eq!(env.proxy.state().upstream.flights().in_flight(), 0);
    // The proxy's refresh token still works, with the upstream token the guard stored.
    let cid = client_id(&fc);
    let r = refresh(&env, &cid, tokens["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let calls = upstream_refreshes(&env);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].form["refresh_token"], after.refresh_token.unwrap());
    env.stop().await;
}

#[tokio::test]
async fn guard_and_token_endpoint_share_the_upstream_refresh() {
    let env = short_upstream_tokens(|_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let cid = client_id(&fc);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    env.clock.advance(Duration::from_secs(120));
    env.idp.clear_journal();
    let env = Arc::new(env);
    let client_refresh = {
        let env = env.clone();
        tokio::spawn(async move { refresh(&env, &cid, &rt, None).await })
    };
    let statuses = concurrent_mcp(&[env.proxy.resource()], &access, 8).await;
    let r = client_refresh.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Whatever the order, each upstream refresh spent a fresh token: the IdP (which revokes
    // the session on reuse) accepted them all, and the session is alive.
    let calls = upstream_refreshes(&env);
    assert!((1..=2).contains(&calls.len()), "{}", calls.len());
    assert!(calls.iter().all(|c| c.status == 200));
    let spent: std::collections::HashSet<_> = calls
        .iter()
        .map(|c| c.form["refresh_token"].clone())
        .collect();
    assert_eq!(
        spent.len(),
        calls.len(),
        "no upstream refresh token used twice"
    );
    assert_eq!(mcp_status(&fc, &r.access_token()).await, 200);
    let env = Arc::try_unwrap(env).ok().expect("sole owner");
    env.stop().await;
}

#[tokio::test]
async fn two_instances_sharing_a_store_refresh_upstream_once() {
    let clock = Clock::system();
    let mut idp_cfg = idp_config("client_secret_basic");
    reuse_detecting(&mut idp_cfg);
    idp_cfg.tokens.access_token_ttl_secs = 60;
    let idp = MockIdp::builder()
        .config(idp_cfg)
        .clock(clock.clone())
        .spawn()
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let mut cfg = proxy_config(&idp, "client_secret_basic");
    cfg.access_token_ttl = HumanDuration::secs(1800);
    let opts = SpawnOptions {
        clock: clock.clone(),
        ..SpawnOptions::default()
    };
    let a = Proxy::spawn_with_store(cfg.clone(), opts.clone(), store.clone())
        .await
        .unwrap();
    // Instance B serves the same public URL (behind one load balancer).
    cfg.base_url = Some(a.url());
    let b = Proxy::spawn_with_store(cfg, opts, store).await.unwrap();
    let env = Env {
        idp,
        proxy: a,
        clock,
    };
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let urls = [
        env.proxy.resource(),
        format!("http://{}/mcp", b.local_addr()),
    ];
    assert_eq!(
        concurrent_mcp(&urls[1..], &access, 1).await,
        [200],
        "B accepts A's token"
    );
    env.clock.advance(Duration::from_secs(120));
    env.idp.clear_journal();
    let statuses = concurrent_mcp(&urls, &access, 16).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        upstream_refreshes(&env).len(),
        1,
        "one refresh across instances"
    );
    // 32 parallel refreshes with one refresh token, half of them at each instance.
    let (cid, rt0) = (client_id(&fc), tokens["refresh_token"].as_str().unwrap());
    let fid = family_id(&env, rt0);
    let bases = [env.proxy.url(), format!("http://{}", b.local_addr())];
    let mut set = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (base, cid, rt0) = (bases[i % 2].clone(), cid.clone(), rt0.to_string());
        set.spawn(async move { refresh_at(&base, &cid, &rt0, None).await });
    }
    let mut issued = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{}", r.json);
        issued.push(r.refresh_token());
    }
    let fam = family(&env, &fid).await.expect("family");
    assert_eq!(live_among(&fam, &issued), 1, "exactly one live successor");
    assert_eq!(
        upstream_refreshes(&env).len(),
        2,
        "one more upstream refresh"
    );
    b.shutdown().await;
    env.stop().await;
}

#[tokio::test]
async fn guard_refresh_failures() {
    // invalid_grant upstream: 401 invalid_token, and the grant is gone.
    let env = short_upstream_tokens(|_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    env.clock.advance(Duration::from_secs(120));
    env.fault(
        "match: {endpoint: token}\ntimes: once\n\
         action: {respond: {status: 400, json: {error: invalid_grant}}}\n",
    );
    let r = fc.mcp(&access, &mcp_init()).await.unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.contains("invalid_token"))
    );
    assert!(grant_of(&env, &access).await.is_none());
    env.stop().await;

    // The IdP down: 503 temporarily_unavailable, then the next call refreshes and passes.
    let env = short_upstream_tokens(|_| {}).await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    env.clock.advance(Duration::from_secs(120));
    env.fault("match: {endpoint: token}\ntimes: once\naction: close\n");
    let r = fc.mcp(&access, &mcp_init()).await.unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json_str("error"), Some("temporarily_unavailable"));
    assert_eq!(mcp_status(&fc, &access).await, 200);
    env.stop().await;

    // Without an upstream refresh token, an expired upstream token is an expired session.
    let env = setup(
        "client_secret_basic",
        |c| {
            c.tokens.access_token_ttl_secs = 60;
            c.tokens.refresh_tokens = Some(mock_idp::config::RefreshIssue::Never);
        },
        |c| c.access_token_ttl = HumanDuration::secs(1800),
    )
    .await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(mcp_status(&fc, &access).await, 200);
    env.clock.advance(Duration::from_secs(120));
    assert_eq!(mcp_status(&fc, &access).await, 401);
    assert!(upstream_refreshes(&env).is_empty());
    env.stop().await;
}

#[tokio::test]
async fn expiry_threshold_refreshes_early_and_tolerates_an_outage() {
    let env =
        short_upstream_tokens(|c| c.upstream.expiry_threshold = HumanDuration::secs(30)).await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(mcp_status(&fc, &access).await, 200);
    assert!(upstream_refreshes(&env).is_empty(), "not due yet");
    env.clock.advance(Duration::from_secs(40));
    // Due (20s left < 30s) but still valid: an outage does not fail the call.
    env.fault(
        "match: {endpoint: token}\ntimes: once\naction: {respond: {status: 503, body: down}}\n",
    );
    assert_eq!(mcp_status(&fc, &access).await, 200);
    assert_eq!(upstream_refreshes(&env).len(), 1);
    assert_eq!(mcp_status(&fc, &access).await, 200);
    assert_eq!(
        upstream_refreshes(&env).len(),
        2,
        "refreshed ahead of expiry"
    );
    assert_eq!(mcp_status(&fc, &access).await, 200);
    assert_eq!(upstream_refreshes(&env).len(), 2, "fresh again");
    env.stop().await;
}

#[tokio::test]
async fn stored_state_lives_as_long_as_the_longest_token_it_backs() {
    let env = setup(
        "client_secret_basic",
        |_| {},
        |c| {
            c.access_token_ttl = HumanDuration::secs(2 * 3600);
            c.refresh_token_ttl = HumanDuration::secs(3600);
        },
    )
    .await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let fid = family_id(&env, tokens["refresh_token"].as_str().unwrap());
    env.clock.advance(Duration::from_secs(3601));
    assert!(family(&env, &fid).await.is_none(), "the family expired");
    assert!(
        grant_of(&env, &access).await.is_some(),
        "the access token still needs it"
    );
    assert_eq!(mcp_status(&fc, &access).await, 200);
    env.clock.advance(Duration::from_secs(3600));
    assert_eq!(mcp_status(&fc, &access).await, 401);
    let st = env.proxy.state();
    let jti = st.tokens.verify_ignoring_expiry(&access).unwrap().jti;
    assert!(
        st.records.get_token(&jti).await.unwrap().is_none(),
        "mapping expired"
    );
    env.stop().await;
}

#[tokio::test]
async fn revocation_goes_upstream_with_the_upstream_token_and_client_auth() {
    for method in ["client_secret_basic", "client_secret_post"] {
        let env = setup(method, |_| {}, |_| {}).await;
        let (fc, tokens) = env.with_tokens().await;
        let cid = client_id(&fc);
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let rt = tokens["refresh_token"].as_str().unwrap().to_string();
        let url = format!("{}/revoke", env.proxy.url());
        let gid = grant_id_of(&env, &access).await;
        // Used before: the guard has checked it (and may remember the check).
        assert_eq!(mcp_status(&fc, &access).await, 200, "before revocation");
        // An access token of a grant with a refresh family: that token alone ends. The grant
        // and its upstream tokens stay for the family's other tokens.
        env.idp.clear_journal();
        let r = http()
            .post(&url)
            .form(&[("token", access.as_str()), ("client_id", cid.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let jti = env
            .proxy
            .state()
            .tokens
            .verify_ignoring_expiry(&access)
            .unwrap()
            .jti;
        let st = env.proxy.state();
        assert!(st.records.get_token(&jti).await.unwrap().is_none());
        assert_eq!(mcp_status(&fc, &access).await, 401, "the revoked token");
        assert!(
            env.journal("/revoke").is_empty(),
            "{method}: nothing upstream"
        );
        assert!(grant_exists(&env, &gid).await, "the grant lives on");
        // A refresh token: family and grant go, the upstream refresh token is revoked.
        let r1 = refresh(&env, &cid, &rt, None).await;
        assert_eq!(r1.status, 200);
        let up1 = grant_of(&env, &r1.access_token()).await.unwrap().upstream;
        assert_eq!(mcp_status(&fc, &r1.access_token()).await, 200, "a sibling");
        env.idp.clear_journal();
        // Within the grace window the just-rotated token is still the client's own.
        let r = http()
            .post(&url)
            .form(&[("token", rt.as_str()), ("client_id", cid.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(family(&env, &family_id(&env, &rt)).await.is_none());
        assert!(grant_of(&env, &r1.access_token()).await.is_none());
        assert_eq!(mcp_status(&fc, &r1.access_token()).await, 401);
        let rev = env.journal("/revoke");
        assert_eq!(rev.len(), 1, "{method}");
        assert_eq!(Some(&rev[0].form["token"]), up1.refresh_token.as_ref());
        assert_ne!(rev[0].form["token"], rt, "never the proxy's token");
        assert_eq!(rev[0].form["token_type_hint"], "refresh_token");
        assert_eq!(rev[0].client_auth.as_deref(), Some(method));
        env.stop().await;
    }
}

#[tokio::test]
async fn revoking_the_only_token_of_a_grant_without_refresh_ends_the_grant_upstream() {
    let env = setup("client_secret_post", |_| {}, |_| {}).await;
    let fc = env.client();
    fc.discover().await.expect("discover");
    let reg = fc
        .register(&json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
        }))
        .await
        .expect("register");
    assert_eq!(reg.status, 201, "{}", reg.body);
    let out = fc
        .authorize(AuthorizeRequest::default())
        .await
        .expect("authorize");
    assert!(out.code.is_some(), "{out}");
    let t = fc
        .token_code(TokenCodeRequest::default())
        .await
        .expect("token");
    let tokens = t.json.expect("json");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let up = grant_of(&env, &access).await.unwrap().upstream;
    let gid = grant_id_of(&env, &access).await;
    env.idp.clear_journal();
    let r = http()
        .post(format!("{}/revoke", env.proxy.url()))
        .form(&[
            ("token", access.as_str()),
            ("client_id", client_id(&fc).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!grant_exists(&env, &gid).await, "the grant ended");
    assert_eq!(mcp_status(&fc, &access).await, 401);
    let rev = env.journal("/revoke");
    assert_eq!(rev.len(), 1);
    let expected = up.refresh_token.as_ref().unwrap_or(&up.access_token);
    assert_eq!(
        &rev[0].form["token"], expected,
        "the upstream token, never the proxy's"
    );
    env.stop().await;
}
