//! The proxy's abuse bounds, each reached for real over loopback: rate limits (429 with
//! `Retry-After`), per-address caps (429) and total caps (the oldest entry makes room: the
//! evicted one then gets the same answer as an expired one), provisional registrations that
//! expire unless a token exchange makes them durable (and are never evicted then), `Host` and
//! `Origin` checks, a 413 that a client writing its whole body first can still read, and the
//! connection timeouts.
//!
//! The bounds on state run on every store (memory, the embedded file store, a private
//! redis-server; the Redis ones skip with a message when redis-server is not installed), and
//! also check what the store holds: a refused request writes nothing, and what expires
//! leaves the store (memory and file drop it in their sweeps; Redis keys carry the TTL).
//!
//! Distinct client addresses are distinct loopback source addresses (127.0.0.2, 127.0.0.3…).

mod proxy_common;
mod support;

use authproof::proxy::config::{HumanDuration, ProxyConfig, Rate, RateLimits, RateTable};
use authproof::proxy::store::Collection;
use proxy_common::*;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;
use support::backend::{Backend, Kind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Each test of a bound on state, once per store: `<test>::memory`, `::file`, `::redis`.
macro_rules! on_every_store {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$test(super::Kind::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn file() {
                super::$test(super::Kind::File).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$test(super::Kind::Redis).await
            }
        }
    )*};
}

on_every_store!(
    rate_limits_answer_429_with_retry_after_per_address,
    caps_are_per_address_first_then_the_oldest_registration_makes_room,
    pending_authorizations_are_capped_per_address,
    at_the_total_cap_the_oldest_pending_authorization_makes_room,
    at_the_total_cap_the_oldest_approved_authorization_makes_room,
    provisional_registrations_expire_unless_a_token_exchange_makes_them_durable,
    showing_the_consent_page_again_stores_nothing_new,
    a_remembered_consent_lives_no_longer_than_a_provisional_registration,
);

/// A proxy (client_secret_basic upstream) on a fresh store of `kind`; `None` when that kind
/// cannot run here (redis-server not installed).
async fn start_on(
    kind: Kind,
    test: &str,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> Option<(Env, Backend)> {
    let clock = authproof::mock_idp::Clock::system();
    let backend = Backend::start(kind, &clock, test).await?;
    let env = start_on_store("client_secret_basic", clock, backend.store(), tweak).await;
    Some((env, backend))
}

/// An HTTP client whose requests come from `source` (a loopback address).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn register(http: &reqwest::Client, env: &Env) -> reqwest::Response {
    http.post(format!("{}/register", env.proxy.url()))
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("seconds")
}

async fn rate_limits_answer_429_with_retry_after_per_address(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "rate limits", |c| {
        c.rate_limits = RateLimits::On(RateTable {
            register: Rate::new(1, 2),
            authorize: Rate::new(1, 1),
            ..RateTable::default()
        });
    })
    .await
    else {
        return;
    };
    let a = client_from("127.0.0.2");
    for _ in 0..2 {
        assert_eq!(register(&a, &env).await.status(), 201);
    }
    let r = register(&a, &env).await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("retry after")
    );
    // Another address is not affected.
    assert_eq!(
        register(&client_from("127.0.0.3"), &env).await.status(),
        201
    );
    assert_eq!(
        backend.held(Collection::Clients).await,
        3,
        "a refused registration is not stored"
    );
    // A browser-facing endpoint answers with a page.
    let url = format!("{}/authorize?client_id=x", env.proxy.url());
    assert_eq!(a.get(&url).send().await.unwrap().status(), 400);
    let r = a.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    env.stop().await;
}

async fn registered_id(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["client_id"].as_str().expect("client_id").to_string()
}

async fn caps_are_per_address_first_then_the_oldest_registration_makes_room(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "caps", |c| {
        c.caps.per_address_registrations = 2;
        c.caps.provisional_registrations = 3;
    })
    .await
    else {
        return;
    };
    let a = client_from("127.0.0.4");
    let a1 = registered_id(register(&a, &env).await).await;
    let a2 = registered_id(register(&a, &env).await).await;
    // The abuser reaches its own cap: 429, and the others still get in.
    let r = register(&a, &env).await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    let b = client_from("127.0.0.5");
    let b1 = registered_id(register(&b, &env).await).await;
    // The instance's total is reached: the newest still get in, the oldest make room.
    let c = client_from("127.0.0.6");
    registered_id(register(&c, &env).await).await;
    registered_id(register(&c, &env).await).await;
    assert_eq!(
        backend.held(Collection::Clients).await,
        3,
        "the store never holds more than the cap"
    );
    let records = &env.proxy.state().records;
    for gone in [&a1, &a2] {
        assert!(
            records.get_client(gone).await.unwrap().is_none(),
            "the oldest were evicted"
        );
    }
    assert!(records.get_client(&b1).await.unwrap().is_some());
    // An evicted client is unknown, as an expired one: a page at /authorize, invalid_client
    // at /token.
    let r = http()
        .get(format!(
            "{}/authorize?client_id={a1}&response_type=code",
            env.proxy.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not registered"));
    let r = http()
        .post(format!("{}/token", env.proxy.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("code_verifier", &"v".repeat(43)),
            ("client_id", &a1),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client", "{v}");
    // The per-address allowance is the address's own: c has used its 2.
    assert_eq!(register(&c, &env).await.status(), 429);
    env.stop().await;
}

async fn pending_authorizations_are_capped_per_address(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "pending authorizations", |c| {
        c.caps.per_address_authorizations = 2;
    })
    .await
    else {
        return;
    };
    let fc = env.registered().await;
    let a = client_from("127.0.0.7");
    for i in 0..2 {
        let (url, _) = authorize_url(&env, &fc, &format!("s{i}"));
        let r = a.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 302, "authorization {i} goes to consent");
    }
    let (url, _) = authorize_url(&env, &fc, "s3");
    let r = a.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1);
    let (url, _) = authorize_url(&env, &fc, "s4");
    assert_eq!(
        client_from("127.0.0.8")
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        302
    );
    assert_eq!(
        backend.held(Collection::Transactions).await,
        3,
        "a refused authorization is not stored"
    );
    // Pending authorizations live `transaction_ttl` (10 minutes by default).
    env.clock.advance(Duration::from_secs(601));
    if backend.drop_expired().await {
        assert_eq!(backend.held(Collection::Transactions).await, 0);
    }
    env.stop().await;
}

/// The consent URL (`/consent?txn_id=…`) an authorization request is sent to.
async fn to_consent(env: &Env, fc: &authproof::client::FlowClient, state: &str) -> String {
    let (url, _) = authorize_url(env, fc, state);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{state} goes to consent");
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Submit a consent form (approve) with its cookie and token.
async fn submit_consent(
    env: &Env,
    txn_url: &str,
    (cookie, token): (String, String),
) -> reqwest::Response {
    let txn_id = query(txn_url)["txn_id"].clone();
    http()
        .post(format!("{}/consent", env.proxy.url()))
        .header("cookie", cookie)
        .form(&[
            ("txn_id", txn_id.as_str()),
            ("csrf_token", token.as_str()),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap()
}

async fn at_the_total_cap_the_oldest_pending_authorization_makes_room(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "total cap on authorizations", |c| {
        c.caps.pending_authorizations = 2;
    })
    .await
    else {
        return;
    };
    let fc = env.registered().await;
    let oldest = to_consent(&env, &fc, "s0").await;
    let oldest_form = consent_page(&oldest).await;
    assert_eq!(backend.held(Collection::ConsentCsrf).await, 1);
    let second = to_consent(&env, &fc, "s1").await;
    let newest = to_consent(&env, &fc, "s2").await;
    assert_eq!(
        backend.held(Collection::Transactions).await,
        2,
        "the store never holds more than the cap"
    );
    assert_eq!(
        backend.held(Collection::ConsentCsrf).await,
        0,
        "the evicted authorization's consent record left with it"
    );
    // The evicted one is answered as an expired one: its page and its form.
    let r = http().get(&oldest).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Authorization expired"));
    let r = submit_consent(&env, &oldest, oldest_form).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    // The newer ones go on.
    consent_page(&second).await;
    let r = submit_consent(&env, &newest, consent_page(&newest).await).await;
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&env.idp.url())
    );
    env.stop().await;
}

async fn at_the_total_cap_the_oldest_approved_authorization_makes_room(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "total cap on approved authorizations", |c| {
        c.caps.pending_authorizations = 2;
    })
    .await
    else {
        return;
    };
    let fc = env.registered().await;
    let mut upstream = Vec::new();
    for i in 0..3 {
        upstream.push(until_upstream(&env, &fc, &format!("s{i}")).await);
    }
    assert_eq!(
        backend.held(Collection::UpstreamStates).await,
        2,
        "the store never holds more than the cap"
    );
    assert_eq!(
        backend.held(Collection::ConsentCsrf).await,
        2,
        "used consent forms' tombstones are capped too"
    );
    // The evicted one comes back from the IdP: the page says it is unknown or expired.
    let r = http()
        .get(idp_callback(&upstream[0]).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("has expired"));
    // The newest is still waiting for its callback: its state is known (the browser-binding
    // cookie is checked next, and this client has none).
    let r = http()
        .get(idp_callback(&upstream[2]).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );
    env.stop().await;
}

async fn provisional_registrations_expire_unless_a_token_exchange_makes_them_durable(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "provisional registrations", |c| {
        c.consent = authproof::proxy::config::ConsentMode::Off;
        c.registration_provisional_ttl = HumanDuration::secs(600);
        c.caps.provisional_registrations = 2;
    })
    .await
    else {
        return;
    };
    let records = &env.proxy.state().records;
    let unused = register(&http(), &env).await.json::<Value>().await.unwrap();
    let unused_id = unused["client_id"].as_str().unwrap().to_string();
    let stored = records.get_client(&unused_id).await.unwrap().unwrap();
    assert!(stored.provisional);
    let (fc, _) = env.with_tokens().await;
    let used_id = fc.memory().client_id.clone().unwrap();
    let used = records.get_client(&used_id).await.unwrap().unwrap();
    assert!(!used.provisional, "the token exchange made it durable");
    assert_eq!(backend.held(Collection::Clients).await, 2);
    // At the total cap, new registrations evict the oldest provisional one, never the durable.
    let newer = [
        registered_id(register(&http(), &env).await).await,
        registered_id(register(&http(), &env).await).await,
    ];
    assert!(
        records.get_client(&unused_id).await.unwrap().is_none(),
        "the oldest provisional registration was evicted"
    );
    assert!(records.get_client(&used_id).await.unwrap().is_some());
    for id in &newer {
        assert!(records.get_client(id).await.unwrap().is_some());
    }
    assert_eq!(backend.held(Collection::Clients).await, 3);
    // Redis drops each key by its own TTL: the registration's lifetime, provisional or durable.
    if let Some(ttl) = backend.key_ttl(Collection::Clients, &newer[0]).await {
        assert!(ttl <= Duration::from_secs(600), "provisional: {ttl:?}");
        let durable = backend
            .key_ttl(Collection::Clients, &used_id)
            .await
            .unwrap();
        assert!(
            durable > Duration::from_secs(89 * 86_400),
            "durable: {durable:?}"
        );
    }
    env.clock.advance(Duration::from_secs(601));
    assert!(
        records.get_client(&newer[0]).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        records.get_client(&used_id).await.unwrap().is_some(),
        "durable"
    );
    let r = http()
        .get(format!(
            "{}/authorize?client_id={}&response_type=code",
            env.proxy.url(),
            newer[0]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an expired registration is unknown");
    if backend.drop_expired().await {
        assert_eq!(
            backend.held(Collection::Clients).await,
            1,
            "the expired registration left the store, the durable one stayed"
        );
    }
    env.stop().await;
}

/// The consent page for `txn_url` (the `/consent?txn_id=…` URL) shown to a new browser:
/// its CSRF cookie and token.
async fn consent_page(txn_url: &str) -> (String, String) {
    let r = http().get(txn_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.contains("csrf"))
        .expect("a CSRF cookie");
    let page = r.text().await.unwrap();
    let form = authproof::client::html::consent_form(&page).expect("a consent form");
    let token = form
        .fields
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.clone())
        .expect("csrf_token");
    (cookie, token)
}

async fn showing_the_consent_page_again_stores_nothing_new(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "consent page views", |_| {}).await else {
        return;
    };
    let fc = env.registered().await;
    let (url, _) = authorize_url(&env, &fc, "s");
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let txn_url = r.headers()["location"].to_str().unwrap().to_string();
    let txn_id = query(&txn_url)["txn_id"].clone();
    let (first_cookie, first_token) = consent_page(&txn_url).await;
    let mut last = (String::new(), String::new());
    for _ in 0..5 {
        last = consent_page(&txn_url).await;
    }
    assert_eq!(
        backend.held(Collection::ConsentCsrf).await,
        1,
        "one CSRF record per pending transaction, however often its page is shown"
    );
    let submit = |(cookie, token): (String, String)| {
        let url = format!("{}/consent", env.proxy.url());
        let txn_id = txn_id.clone();
        async move {
            http()
                .post(url)
                .header("cookie", cookie)
                .form(&[
                    ("txn_id", txn_id.as_str()),
                    ("csrf_token", token.as_str()),
                    ("action", "approve"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // The page shown first was replaced: its form has expired.
    let r = submit((first_cookie, first_token)).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
    // The page shown last goes upstream.
    let r = submit(last).await;
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&env.idp.url())
    );
    assert_eq!(backend.held(Collection::Transactions).await, 0);
    assert_eq!(
        backend.held(Collection::ConsentCsrf).await,
        1,
        "the used token's tombstone, nothing else"
    );
    env.stop().await;
}

async fn a_remembered_consent_lives_no_longer_than_a_provisional_registration(kind: Kind) {
    let Some((env, backend)) = start_on(kind, "remembered consent", |c| {
        c.consent = authproof::proxy::config::ConsentMode::Remember;
        c.registration_provisional_ttl = HumanDuration::secs(600);
    })
    .await
    else {
        return;
    };
    // Approved, never exchanged: the client stays provisional.
    let (_fc, out) = env.authorized().await;
    assert!(out.consent_page.is_some());
    assert_eq!(backend.held(Collection::Consents).await, 1);
    if let Some(ttls) = backend.key_ttls(Collection::Consents).await {
        assert_eq!(ttls.len(), 1);
        assert!(ttls[0] <= Duration::from_secs(600), "{ttls:?}");
    }
    env.clock.advance(Duration::from_secs(601));
    if backend.drop_expired().await {
        assert_eq!(
            backend.held(Collection::Consents).await,
            0,
            "gone with the provisional registration"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn stored_fields_have_size_limits_and_metadata_uris_are_https() {
    let env = start("client_secret_basic").await;
    let post = |body: Value| {
        let url = format!("{}/register", env.proxy.url());
        async move { http().post(url).json(&body).send().await.unwrap() }
    };
    for (key, value) in [
        (
            "client_uri",
            json!(format!("https://a.example/{}", "x".repeat(60_000))),
        ),
        ("logo_uri", json!("javascript:alert(1)")),
        ("tos_uri", json!("http://evil.example/tos")),
        ("policy_uri", json!("data:text/html,hi")),
        ("client_name", json!("n".repeat(201))),
        ("contacts", json!(vec!["a@example.com"; 11])),
        ("software_id", json!("s".repeat(400))),
    ] {
        let mut body = json!({"redirect_uris": [REDIRECT]});
        body[key] = value;
        let r = post(body).await;
        assert_eq!(r.status(), 400, "{key}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_client_metadata", "{key}: {v}");
    }
    let ok = post(
        json!({"redirect_uris": [REDIRECT], "logo_uri": "http://127.0.0.1:3000/logo.png",
        "client_uri": "https://app.example"}),
    )
    .await;
    assert_eq!(ok.status(), 201);
    // A long state is refused at /authorize, and never stored.
    let fc = env.registered().await;
    let (url, _) = authorize_url(&env, &fc, &"s".repeat(3000));
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let to = query(r.headers()["location"].to_str().unwrap());
    assert_eq!(to["error"], "invalid_request");
    assert!(!to.contains_key("state"));
    env.stop().await;
}

/// Raw HTTP/1.1 over TCP: reqwest would set `Host` itself.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn foreign_host_and_origin_are_refused() {
    let env = start("client_secret_basic").await;
    let addr = env.proxy.local_addr();
    let get = |host: &str, path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
    };
    let meta = "/.well-known/oauth-authorization-server";
    let ok = raw(addr, &get(&format!("localhost:{}", addr.port()), meta)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // DNS rebinding: the attacker's name resolves to the proxy; the browser sends that name.
    let rebound = raw(
        addr,
        &get(&format!("rebind.attacker.example:{}", addr.port()), meta),
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(rebound.contains("rebind.attacker.example"), "{rebound}");
    let mcp = raw(addr, &get("evil.example", "/mcp")).await;
    assert!(mcp.starts_with("HTTP/1.1 403"), "{mcp}");

    let post_mcp = |origin: Option<&str>| {
        let url = env.proxy.resource();
        let mut req = http().post(url).json(&mcp_init());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // No Origin (a non-browser client): on to the bearer check.
    assert_eq!(post_mcp(None).await.unwrap().status(), 401);
    // The proxy's own origin: the same.
    let own = env.proxy.url();
    assert_eq!(post_mcp(Some(&own)).await.unwrap().status(), 401);
    let r = post_mcp(Some("https://evil.example")).await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("https://evil.example"),
        "{v}"
    );
    env.stop().await;
}

#[tokio::test]
async fn allowed_origins_and_hosts_widen_the_defaults() {
    let env = start_with("client_secret_basic", |c| {
        c.allowed_origins = Some(vec!["https://app.example".into()]);
        c.allowed_hosts = Some(vec!["mcp.internal".into()]);
    })
    .await;
    let addr = env.proxy.local_addr();
    let r = raw(
        addr,
        b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: mcp.internal\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let body = serde_json::to_string(&mcp_init()).unwrap();
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: mcp.internal\r\nOrigin: https://app.example\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = raw(addr, req.as_bytes()).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    env.stop().await;
}

/// A client that writes its whole (oversized) body before reading: it must read the 413.
async fn write_first(addr: std::net::SocketAddr, host: &str, path: &str) -> String {
    let body = vec![b'a'; 3 * 1024 * 1024];
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body)
        .await
        .expect("the whole body is accepted");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("an answer")
        .expect("no reset");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_client_that_writes_first_reads_the_413() {
    let env = start("client_secret_basic").await;
    let addr = env.proxy.local_addr();
    for path in ["/token", "/register", "/revoke"] {
        let answer = write_first(addr, &format!("127.0.0.1:{}", addr.port()), path).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains("\"error\":\"invalid_request\""),
            "{path}: {answer}"
        );
    }
    // The mock IdP serves through the same bounded server.
    let idp: url::Url = env.idp.url().parse().unwrap();
    let idp_addr = format!("{}:{}", idp.host_str().unwrap(), idp.port().unwrap());
    let answer = write_first(idp_addr.parse().unwrap(), &idp_addr, "/token").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "mock IdP: {answer}");
    env.stop().await;
}

#[tokio::test]
async fn slow_and_silent_clients_are_cut_off() {
    let env = start_with("client_secret_basic", |c| {
        c.timeouts.header = HumanDuration(Duration::from_millis(500));
        c.timeouts.body = HumanDuration(Duration::from_millis(500));
        c.timeouts.idle = HumanDuration(Duration::from_millis(700));
    })
    .await;
    let addr = env.proxy.local_addr();
    let host = format!("127.0.0.1:{}", addr.port());
    // Headers that never finish: the connection is closed without an answer.
    let r = raw(
        addr,
        format!("POST /token HTTP/1.1\r\nHost: {host}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r, "", "no answer to half a request");
    // A body that never finishes: the request fails and the connection closes.
    let r = raw(
        addr,
        format!(
            "POST /token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="
        )
        .as_bytes(),
    )
    .await;
    assert!(
        r.is_empty() || r.starts_with("HTTP/1.1 4"),
        "a trickled body is not served: {r}"
    );
    // A silent connection, and a keep-alive connection after its answer, are closed.
    assert_eq!(raw(addr, b"").await, "");
    let r = raw(
        addr,
        format!("GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: {host}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    env.stop().await;
}
