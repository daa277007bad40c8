//! The flow client against the mock IdP directly, through a resource guard for discovery and
//! MCP, and through a minimal consent-showing proxy for the browser leg.

use authproof::client::{
    AuthorizeRequest, ClientAuth, ClientError, Consent, FlowClient, McpRequest, Param, Pkce,
    RawBody, RawRequest, RefreshRequest, RevokeRequest, TokenCodeRequest,
};
use authproof::proxy::resource::{
    BearerError, BearerVerifier, Principal, ResourceGuard, Verdict, mcp_routes,
};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use mock_idp::{MockIdp, MockIdpHandle};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// A closed port: the client must never fetch its redirect URI.
const CLIENT_CB: &str = "http://127.0.0.1:9/cb";

async fn idp() -> MockIdpHandle {
    let config = foundations::yaml::from_str(
        r#"
flavor: oidc
registration: { enabled: true }
clients: [{ id: upstream-app, secret: upstream-s3cret-value, token_endpoint_auth_method: client_secret_post }]
users: [{ sub: alice, claims: { email: alice@example.com } }, { sub: bob }]
"#,
        "<test>",
    )
    .unwrap();
    MockIdp::builder().config(config).spawn().await.unwrap()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    format!("http://{addr}")
}

fn last<'a>(idp: &'a [mock_idp::JournalEntry], path: &str) -> &'a mock_idp::JournalEntry {
    idp.iter().rev().find(|e| e.path == path).unwrap()
}

// ---------------------------------------------------------------- directly at the mock IdP

#[tokio::test]
async fn register_authorize_token_refresh_revoke_at_the_mock_idp() {
    let idp = idp().await;
    let client = FlowClient::new(&idp.url()).unwrap();

    let reg = client
        .register(&json!({
            "redirect_uris": [CLIENT_CB],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid email",
        }))
        .await
        .unwrap();
    assert_eq!(reg.status, 201, "{reg}");
    let secret = reg.json_str("client_secret").unwrap().to_owned();
    let m = client.memory();
    assert_eq!(m.client_id.as_deref(), reg.json_str("client_id"));
    assert_eq!(m.redirect_uri.as_deref(), Some(CLIENT_CB));
    assert_eq!(
        m.token_endpoint_auth_method.as_deref(),
        Some("client_secret_post")
    );
    assert!(!reg.to_string().contains(&secret), "secret shown: {reg}");

    // The IdP's /authorize is on the client's base origin, so the login hint goes in by hand.
    let outcome = client
        .authorize(AuthorizeRequest {
            scope: "openid email".into(),
            extra: vec![("login_hint".into(), "alice".into())],
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert!(outcome.reached_redirect_uri, "{outcome}");
    assert_eq!(outcome.hops.len(), 1, "{outcome}");
    assert_eq!(outcome.hops[0].status, 302);
    assert!(outcome.final_url.starts_with(CLIENT_CB), "{outcome}");
    assert!(outcome.code.is_some(), "{outcome}");
    assert_eq!(outcome.state, outcome.sent_state);
    assert!(outcome.error.is_none());
    let verifier = outcome.pkce_verifier.clone().unwrap();
    let code = outcome.code.clone().unwrap();
    let shown = outcome.to_string();
    assert!(!shown.contains(&code), "code shown: {shown}");

    let sent = last(&idp.journal(), "/authorize").query.clone();
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(
        sent["code_challenge"],
        authproof::oauth::pkce::challenge_s256(&verifier)
    );
    assert_eq!(sent["redirect_uri"], CLIENT_CB);
    assert_eq!(sent["login_hint"], "alice");

    let token = client
        .token_code(TokenCodeRequest::default())
        .await
        .unwrap();
    assert_eq!(token.status, 200, "{token}");
    let access = token.json_str("access_token").unwrap().to_owned();
    let refresh = token.json_str("refresh_token").unwrap().to_owned();
    assert_eq!(
        client.memory().access_token.as_deref(),
        Some(access.as_str())
    );
    let journal = idp.journal();
    let t = last(&journal, "/token");
    assert_eq!(t.client_auth.as_deref(), Some("client_secret_post"));
    assert_eq!(t.form["grant_type"], "authorization_code");
    assert_eq!(t.form["code_verifier"], verifier);
    assert_eq!(t.form["code"], code);
    assert!(!t.headers.contains_key("authorization"));
    let shown = token.to_string();
    for s in [&access, &refresh, &secret, &code, &verifier] {
        assert!(!shown.contains(s.as_str()), "secret shown: {shown}");
    }

    let refreshed = client.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(refreshed.status, 200, "{refreshed}");
    assert_eq!(
        last(&idp.journal(), "/token").form["refresh_token"],
        refresh
    );
    let new_access = refreshed.json_str("access_token").unwrap().to_owned();
    assert_eq!(
        client.memory().access_token.as_deref(),
        Some(new_access.as_str())
    );

    let revoked = client.revoke(RevokeRequest::default()).await.unwrap();
    assert_eq!(revoked.status, 200, "{revoked}");
    let journal = idp.journal();
    let r = last(&journal, "/revoke");
    assert_eq!(r.form["token"], client.memory().refresh_token.unwrap());
    assert_eq!(r.client_auth.as_deref(), Some("client_secret_post"));

    // The code is single-use at the mock: a replay through the same memory fails.
    let replay = client
        .token_code(TokenCodeRequest::default())
        .await
        .unwrap();
    assert_eq!(replay.status, 400, "{replay}");
    assert_eq!(replay.json_str("error"), Some("invalid_grant"));
    // A failed grant leaves the remembered tokens alone.
    assert_eq!(
        client.memory().access_token.as_deref(),
        Some(new_access.as_str())
    );
}

#[tokio::test]
async fn basic_auth_pkce_overrides_and_errors() {
    let idp = idp().await;
    let client = FlowClient::new(&idp.url()).unwrap();
    let reg = client
        .register(&json!({ "redirect_uris": [CLIENT_CB], "token_endpoint_auth_method": "client_secret_basic" }))
        .await
        .unwrap();
    assert_eq!(reg.status, 201, "{reg}");

    let outcome = client
        .authorize(AuthorizeRequest {
            scope: "openid".into(),
            state: "my-state".into(),
            pkce: Pkce::Verifier("v".repeat(50)),
            extra: vec![("login_hint".into(), "bob".into())],
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(outcome.state.as_deref(), Some("my-state"));
    assert_eq!(
        outcome.pkce_verifier.as_deref(),
        Some("v".repeat(50).as_str())
    );

    let wrong = client
        .token_code(TokenCodeRequest {
            code_verifier: Param::Value("w".repeat(50)),
            ..TokenCodeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(wrong.status, 400, "{wrong}");
    assert_eq!(wrong.json_str("error"), Some("invalid_grant"));
    let t = last(&idp.journal(), "/token").clone();
    assert_eq!(t.client_auth.as_deref(), Some("client_secret_basic"));
    assert!(t.headers["authorization"].starts_with("Basic "));
    assert!(!t.form.contains_key("client_secret"));

    // An error redirect from the IdP ends the walk with error and state.
    let denied = client
        .authorize(AuthorizeRequest {
            response_type: "token".into(),
            state: "s2".into(),
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert!(denied.reached_redirect_uri, "{denied}");
    assert!(denied.error.is_some(), "{denied}");
    assert_eq!(denied.state.as_deref(), Some("s2"));
    assert!(denied.code.is_none());
    assert!(client.memory().code.is_none());

    // An unknown client gets an error page: the walk ends there, nothing is followed.
    let page = client
        .authorize(AuthorizeRequest {
            client_id: "nobody".into(),
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert!(!page.reached_redirect_uri, "{page}");
    assert!(page.final_status >= 400, "{page}");
    assert!(page.code.is_none() && page.error.is_none());

    // Explicit post authentication overrides the registration's method.
    client
        .authorize(AuthorizeRequest {
            extra: vec![("login_hint".into(), "bob".into())],
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    let secret = client.memory().client_secret.unwrap();
    let post = client
        .token_code(TokenCodeRequest {
            auth: ClientAuth::Post { secret },
            ..TokenCodeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        last(&idp.journal(), "/token").client_auth.as_deref(),
        Some("client_secret_post")
    );
    // The mock insists on the registered method.
    assert_eq!(post.status, 401, "{post}");
}

#[tokio::test]
async fn transport_errors_are_typed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = FlowClient::new(&dead).unwrap();
    let err = client.register(&json!({})).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
    assert!(matches!(
        FlowClient::new("not a url"),
        Err(ClientError::InvalidUrl { .. })
    ));
    assert!(matches!(
        FlowClient::new("ftp://x"),
        Err(ClientError::InvalidUrl { .. })
    ));
    let err = client
        .request(RawRequest::get("/x").header("bad header", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidHeader { .. }), "{err}");
    let err = client.discover().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
}

// ---------------------------------------------------------------- discovery and MCP

/// Accepts the mock IdP's access tokens by asking its userinfo endpoint.
struct UserinfoVerifier {
    userinfo: String,
    http: reqwest::Client,
}

impl BearerVerifier for UserinfoVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> Verdict<'a> {
        Box::pin(async move {
            let resp = self
                .http
                .get(&self.userinfo)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| BearerError::Unavailable(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(BearerError::Invalid("not a token of the IdP".into()));
            }
            let claims: Value = resp
                .json()
                .await
                .map_err(|e| BearerError::Invalid(e.to_string()))?;
            Ok(Arc::new(Principal {
                subject: claims["sub"].as_str().unwrap_or_default().to_owned(),
                client_id: None,
                scopes: vec!["openid".into()],
                claims,
            }))
        })
    }
}

/// A resource server: the guarded echo endpoint at /mcp and its PRM naming the mock IdP.
async fn resource_server(idp: &MockIdpHandle) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let prm_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let guard = ResourceGuard {
        verifier: Arc::new(UserinfoVerifier {
            userinfo: idp.endpoints()["userinfo"].clone(),
            http: reqwest::Client::new(),
        }),
        resource: format!("{base}/mcp"),
        resource_metadata_url: prm_url,
        required_scopes: vec!["openid".into()],
        backend: None,
        backend_roots: Default::default(),
    };
    let prm = json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [idp.issuer()],
        "scopes_supported": ["openid", "email"],
        "bearer_methods_supported": ["header"],
    });
    let router = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || async move { axum::Json(prm) }),
        )
        .nest_service("/mcp", mcp_routes(guard));
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    base
}

#[tokio::test]
async fn discover_then_call_the_guarded_endpoint() {
    let idp = idp().await;
    let base = resource_server(&idp).await;
    let client = FlowClient::new(&base).unwrap();

    let d = client.discover().await.unwrap();
    assert_eq!(d.exchanges.len(), 3, "probe, PRM, AS metadata");
    assert_eq!(d.exchanges[0].status, 401);
    let challenge = d.challenge.clone().unwrap();
    assert_eq!(
        challenge.resource_metadata(),
        Some(d.resource_metadata_url.as_str())
    );
    assert_eq!(challenge.scope(), Some("openid"));
    assert_eq!(d.resource(), Some(format!("{base}/mcp").as_str()));
    assert_eq!(d.authorization_server, idp.issuer());
    assert_eq!(d.as_metadata["issuer"], idp.issuer());
    let m = client.memory();
    assert_eq!(m.resource.as_deref(), Some(format!("{base}/mcp").as_str()));
    assert_eq!(m.scope.as_deref(), Some("openid"));
    assert_eq!(m.endpoints.token, idp.endpoints()["token"]);
    assert_eq!(m.endpoints.registration, idp.endpoints()["register"]);

    let reg = client
        .register(&json!({ "redirect_uris": [CLIENT_CB] }))
        .await
        .unwrap();
    assert_eq!(reg.status, 201, "{reg}");
    let outcome = client
        .authorize(AuthorizeRequest {
            extra: vec![("login_hint".into(), "alice".into())],
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert!(outcome.code.is_some(), "{outcome}");
    let authz = last(&idp.journal(), "/authorize").query.clone();
    assert_eq!(authz["resource"], format!("{base}/mcp"));
    assert_eq!(authz["scope"], "openid");
    let token = client
        .token_code(TokenCodeRequest::default())
        .await
        .unwrap();
    assert_eq!(token.status, 200, "{token}");
    assert_eq!(
        last(&idp.journal(), "/token").form["resource"],
        format!("{base}/mcp")
    );
    let access = token.json_str("access_token").unwrap().to_owned();

    let init = client
        .mcp(
            &access,
            &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}),
        )
        .await
        .unwrap();
    assert_eq!(init.status, 200, "{init}");
    assert_eq!(
        init.json.as_ref().unwrap()["result"]["protocolVersion"],
        "2025-06-18"
    );
    assert_eq!(
        client.memory().mcp_protocol_version.as_deref(),
        Some("2025-06-18")
    );

    let who = client
        .mcp_with(McpRequest {
            body: json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}),
            ..McpRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(who.status, 200, "{who}");
    assert!(
        who.request
            .headers
            .iter()
            .any(|(n, v)| n == "mcp-protocol-version" && v == "2025-06-18")
    );
    assert_eq!(
        who.json.as_ref().unwrap()["result"]["structuredContent"]["subject"],
        "alice"
    );
    assert!(!who.to_string().contains(&access), "token shown: {who}");

    let anonymous = client
        .mcp_with(McpRequest {
            token: Param::Omit,
            body: json!({"jsonrpc":"2.0","id":3,"method":"ping"}),
            ..McpRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
    let forged = client
        .mcp(
            "forged-token",
            &json!({"jsonrpc":"2.0","id":4,"method":"ping"}),
        )
        .await
        .unwrap();
    assert_eq!(forged.status, 401);
    assert!(
        forged
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn mcp_reads_the_first_sse_event_only() {
    // A backend that answers with an SSE stream it never closes.
    let (_hold, hold_rx) = tokio::sync::oneshot::channel::<()>();
    let hold_rx = Arc::new(Mutex::new(Some(hold_rx)));
    let app = Router::new().route(
        "/mcp",
        axum::routing::post(move || {
            let hold = hold_rx.lock().take();
            async move {
                let (mut tx, body) = http_body_util::channel::Channel::<axum::body::Bytes>::new(2);
                tokio::spawn(async move {
                    tx.send_data(": hello\n\n".into()).await.ok();
                    tx.send_data("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\n".into())
                        .await
                        .ok();
                    tx.send_data("data: \"result\":{}}\n\n".into()).await.ok();
                    if let Some(hold) = hold {
                        hold.await.ok();
                    }
                });
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    axum::body::Body::new(body),
                )
            }
        }),
    );
    let base = serve(app).await;
    let client = FlowClient::new(&base).unwrap();
    let ex = client
        .mcp("tok", &json!({"jsonrpc":"2.0","id":1,"method":"ping"}))
        .await
        .unwrap();
    assert_eq!(ex.status, 200);
    assert_eq!(ex.json, Some(json!({"jsonrpc":"2.0","id":1,"result":{}})));
    assert_eq!(
        ex.request
            .headers
            .iter()
            .find(|(n, _)| n == "accept")
            .unwrap()
            .1,
        "application/json, text/event-stream"
    );
}

// ---------------------------------------------------------------- a consent-showing proxy

#[derive(Default)]
struct FakeProxy {
    base: String,
    upstream_authorize: String,
    next: Mutex<u32>,
    txns: Mutex<HashMap<String, (String, String)>>,
    consent_posts: Mutex<Vec<(HashMap<String, String>, HeaderMap)>>,
}

async fn fake_authorize(
    State(p): State<Arc<FakeProxy>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let txn = {
        let mut n = p.next.lock();
        *n += 1;
        format!("txn{n}")
    };
    p.txns.lock().insert(
        txn.clone(),
        (
            q["redirect_uri"].clone(),
            q.get("state").cloned().unwrap_or_default(),
        ),
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, format!("/consent?txn_id={txn}")),
            (
                header::SET_COOKIE,
                format!("__bind={txn}-cookie-value; Path=/; HttpOnly; SameSite=Lax"),
            ),
        ],
    )
        .into_response()
}

async fn fake_consent_page(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let txn = q.get("txn_id").cloned().unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html><body><h1>Allow &quot;app&quot;?</h1>
<form method="POST" action="/consent">
<input type="hidden" name="txn_id" value="{txn}">
<input type="hidden" name="csrf_token" value="csrf-{txn}-0123456789">
<button type="submit" name="action" value="approve">Allow</button>
<button type="submit" name="action" value="deny">Deny</button>
</form></body></html>"#
    ))
}

async fn fake_consent_post(
    State(p): State<Arc<FakeProxy>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    p.consent_posts.lock().push((f.clone(), headers.clone()));
    let txn = f.get("txn_id").cloned().unwrap_or_default();
    let cookie_ok = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.contains(&format!("__bind={txn}-cookie-value")));
    let csrf_ok = f.get("csrf_token") == Some(&format!("csrf-{txn}-0123456789"));
    let Some((redirect, state)) = p.txns.lock().get(&txn).cloned() else {
        return (StatusCode::BAD_REQUEST, Html("unknown transaction")).into_response();
    };
    if !cookie_ok || !csrf_ok {
        return (StatusCode::FORBIDDEN, Html("session mismatch")).into_response();
    }
    let location = match f.get("action").map(String::as_str) {
        Some("approve") => format!(
            "{}?response_type=code&client_id=upstream-app&redirect_uri={}/callback&state={txn}&scope=openid",
            p.upstream_authorize, p.base
        ),
        _ => format!(
            "{redirect}?error=access_denied&state={state}&iss={}",
            p.base
        ),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

async fn fake_callback(
    State(p): State<Arc<FakeProxy>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((redirect, state)) = q.get("state").and_then(|t| p.txns.lock().get(t).cloned()) else {
        return (StatusCode::BAD_REQUEST, Html("bad state")).into_response();
    };
    let upstream_code = q.get("code").cloned().unwrap_or_default();
    let location = format!(
        "{redirect}?code=proxy-{upstream_code}&state={state}&iss={}",
        p.base
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn fake_proxy(idp: &MockIdpHandle) -> (String, Arc<FakeProxy>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(FakeProxy {
        base: base.clone(),
        upstream_authorize: idp.endpoints()["authorize"].clone(),
        ..FakeProxy::default()
    });
    let router = Router::new()
        .route("/authorize", get(fake_authorize))
        .route("/consent", get(fake_consent_page).post(fake_consent_post))
        .route("/callback", get(fake_callback))
        .with_state(state.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    (base, state)
}

fn authorize_as(user: &str, consent: Consent) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: "c1".into(),
        redirect_uri: CLIENT_CB.into(),
        as_user: Some(user.into()),
        consent,
        ..AuthorizeRequest::default()
    }
}

#[tokio::test]
async fn authorize_walks_consent_upstream_login_and_callback() {
    let idp = idp().await;
    let (base, proxy) = fake_proxy(&idp).await;
    let client = FlowClient::new(&base).unwrap();

    let started = std::time::Instant::now();
    let outcome = client
        .authorize(authorize_as("alice", Consent::Approve))
        .await
        .unwrap();
    let wall = started.elapsed();
    assert!(outcome.reached_redirect_uri, "{outcome}");
    let statuses: Vec<u16> = outcome.hops.iter().map(|h| h.status).collect();
    assert_eq!(statuses, [302, 200, 303, 302, 302], "{outcome}");
    // Each request is timed, and the requests took no longer than the walk.
    assert!(
        outcome.hops.iter().all(|h| !h.elapsed.is_zero()),
        "{outcome}"
    );
    let timed: std::time::Duration = outcome.hops.iter().map(|h| h.elapsed).sum();
    assert!(timed <= wall, "{timed:?} > {wall:?}");
    assert!(
        outcome.hops[1]
            .url
            .starts_with(&format!("{base}/consent?txn_id="))
    );
    assert_eq!(outcome.hops[2].method, "POST");
    assert!(
        outcome.hops[3]
            .url
            .starts_with(&idp.endpoints()["authorize"])
    );
    assert!(
        outcome.hops[4]
            .url
            .starts_with(&format!("{base}/callback?"))
    );
    let code = outcome.code.clone().unwrap();
    assert!(code.starts_with("proxy-"), "{code}");
    assert_eq!(outcome.state, outcome.sent_state);
    assert_eq!(outcome.iss.as_deref(), Some(base.as_str()));
    assert!(
        outcome
            .consent_page
            .as_deref()
            .unwrap()
            .contains("Allow &quot;app&quot;?")
    );
    assert_eq!(client.memory().code.as_deref(), Some(code.as_str()));

    // The consent POST carried the form's hidden fields, the cookie and an Origin.
    let posts = proxy.consent_posts.lock().clone();
    assert_eq!(posts.len(), 1);
    let (form, headers) = &posts[0];
    assert_eq!(form["action"], "approve");
    assert_eq!(form["txn_id"], "txn1");
    assert_eq!(headers["origin"], base.as_str());
    // The upstream leg logged in headlessly as alice.
    let upstream = last(&idp.journal(), "/authorize").query.clone();
    assert_eq!(upstream["login_hint"], "alice");
    assert_eq!(upstream["client_id"], "upstream-app");
    // The first request carried PKCE and state.
    let first = url::Url::parse(&outcome.hops[0].url).unwrap();
    let q: HashMap<_, _> = first.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["code_challenge"],
        authproof::oauth::pkce::challenge_s256(outcome.pkce_verifier.as_deref().unwrap())
    );
    assert_eq!(q["state"], outcome.sent_state.clone().unwrap());
    // Masked display: no code, no cookie value.
    let shown = outcome.to_string();
    assert!(!shown.contains(&code["proxy-".len()..]), "{shown}");
}

#[tokio::test]
async fn authorize_can_deny_or_stop_at_consent() {
    let idp = idp().await;
    let (base, proxy) = fake_proxy(&idp).await;
    let client = FlowClient::new(&base).unwrap();

    let denied = client
        .authorize(authorize_as("alice", Consent::Deny))
        .await
        .unwrap();
    assert!(denied.reached_redirect_uri, "{denied}");
    assert_eq!(denied.error.as_deref(), Some("access_denied"));
    assert_eq!(denied.state, denied.sent_state);
    assert!(denied.code.is_none());
    assert_eq!(denied.hops.len(), 3, "{denied}");
    assert!(
        idp.journal().iter().all(|e| e.path != "/authorize"),
        "went upstream after deny"
    );

    let stopped = client
        .authorize(authorize_as("alice", Consent::Skip))
        .await
        .unwrap();
    assert!(!stopped.reached_redirect_uri);
    assert_eq!(stopped.final_status, 200);
    assert!(
        stopped
            .final_url
            .starts_with(&format!("{base}/consent?txn_id="))
    );
    assert!(stopped.consent_page.is_some());
    assert_eq!(
        proxy.consent_posts.lock().len(),
        1,
        "Skip must not post the form"
    );

    // A new browser has no binding cookie: the proxy refuses, the walk ends on its page.
    let other = FlowClient::new(&base).unwrap();
    other
        .authorize(authorize_as("bob", Consent::Skip))
        .await
        .unwrap();
    other.clear_cookies();
    let txn = format!("txn{}", *proxy.next.lock());
    let refused = other
        .follow(
            RawRequest::post(
                "/consent",
                RawBody::Form(vec![
                    ("txn_id".into(), txn.clone()),
                    ("csrf_token".into(), format!("csrf-{txn}-0123456789")),
                    ("action".into(), "approve".into()),
                ]),
            ),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(refused.final_status, 403, "{refused}");
    assert!(refused.final_body.contains("session mismatch"));
}

#[tokio::test]
async fn a_page_without_the_requested_button_is_an_error() {
    let app = Router::new().route(
        "/authorize",
        get(|| async {
            Html(r#"<form method=post><button name=action value=approve>ok</button></form>"#)
        }),
    );
    let base = serve(app).await;
    let client = FlowClient::new(&base).unwrap();
    let err = client
        .authorize(AuthorizeRequest {
            consent: Consent::Deny,
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::ConsentForm { .. }), "{err}");
}

#[tokio::test]
async fn redirect_loops_end() {
    let app = Router::new().route(
        "/authorize",
        get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/authorize")]) }),
    );
    let base = serve(app).await;
    let client = FlowClient::new(&base).unwrap();
    let err = client
        .authorize(AuthorizeRequest::default())
        .await
        .unwrap_err();
    match err {
        ClientError::TooManyRedirects { hops, .. } => assert_eq!(hops.len(), 20),
        other => panic!("{other}"),
    }
}

// ---------------------------------------------------------------- end to end through the proxy

async fn proxy_for(idp: &MockIdpHandle, consent: &str) -> authproof::proxy::ProxyHandle {
    let yaml = format!(
        r#"
mcp_path: /mcp
upstream:
  config_url: {discovery}
  client_id: upstream-app
  client_secret: upstream-s3cret-value
  token_endpoint_auth_method: client_secret_post
  scopes: [openid, email]
allowed_client_redirect_uris: ["http://127.0.0.1:*"]
valid_scopes: [openid, email]
consent: {consent}
jwt_signing_key: test-signing-key-0123456789abcdef
"#,
        discovery = idp.discovery_url(),
    );
    let config = authproof::proxy::ProxyConfig::from_yaml_str(&yaml, "<test>").unwrap();
    authproof::proxy::Proxy::spawn(config, authproof::proxy::SpawnOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn end_to_end_register_authorize_token_mcp_through_the_proxy() {
    let idp = idp().await;
    let proxy = proxy_for(&idp, "always").await;
    let client = FlowClient::new(&proxy.url()).unwrap();

    let d = client.discover().await.unwrap();
    assert_eq!(d.exchanges[0].status, 401, "{}", d.exchanges[0]);
    assert_eq!(d.resource(), Some(proxy.resource().as_str()));
    assert_eq!(d.as_metadata["issuer"], proxy.issuer());

    let reg = client
        .register(&json!({ "redirect_uris": [CLIENT_CB], "client_name": "flow test" }))
        .await
        .unwrap();
    assert_eq!(reg.status, 201, "{reg}");

    let outcome = client
        .authorize(AuthorizeRequest {
            scope: "openid email".into(),
            as_user: Some("alice".into()),
            consent: Consent::Approve,
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert!(outcome.reached_redirect_uri, "{outcome}");
    assert!(outcome.consent_page.is_some(), "{outcome}");
    assert!(outcome.code.is_some(), "{outcome}");
    assert_eq!(outcome.state, outcome.sent_state);
    assert_eq!(outcome.iss.as_deref(), Some(proxy.issuer().as_str()));
    assert_eq!(
        last(&idp.journal(), "/authorize").query["login_hint"],
        "alice"
    );

    let token = client
        .token_code(TokenCodeRequest::default())
        .await
        .unwrap();
    assert_eq!(token.status, 200, "{token}");
    let access = token.json_str("access_token").unwrap().to_owned();

    let who = client
        .mcp(
            &access,
            &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}),
        )
        .await
        .unwrap();
    assert_eq!(who.status, 200, "{who}");
    let me = &who.json.as_ref().unwrap()["result"]["structuredContent"];
    assert_eq!(me["subject"], "alice", "{who}");
    assert_eq!(me["client_id"], reg.json_str("client_id").unwrap(), "{who}");

    // Denying at the proxy's consent page never reaches the IdP.
    idp.clear_journal();
    let denied = client
        .authorize(AuthorizeRequest {
            as_user: Some("alice".into()),
            consent: Consent::Deny,
            ..AuthorizeRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.error.as_deref(), Some("access_denied"), "{denied}");
    assert!(idp.journal().iter().all(|e| e.path != "/authorize"));
    proxy.shutdown().await;
}
