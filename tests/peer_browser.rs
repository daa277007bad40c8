//! A real browser against the pages a person sees: headless Chromium, driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`), through the proxy's consent page and the mock
//! IdP's sign-in and consent pages (no headless login: the browser clicks the buttons).
//!
//! Each case runs in its own browser session. When a case fails, a screenshot of the page is
//! written to `target/peer-browser/<case>.png` (with `AUTHPROOF_SCREENSHOTS=1`, every case's
//! last page is saved too, as `<case>.ok.png`). Without chromium or chromedriver every case
//! prints `skipping: … not installed` and passes (`.ci/install.d/25-browser.sh` installs both).

#[path = "support/tls.rs"]
mod tls;

use authproof::client::{AuthorizeRequest, FlowClient, Param, TokenCodeRequest};
use authproof::mock_idp::{Clock, MockIdp, MockIdpHandle};
use authproof::proxy::config::{ConsentMode, HumanDuration, ProxyConfig, Secret};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use fantoccini::{Client, ClientBuilder, Locator};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

type Check = anyhow::Result<()>;

// ---------------------------------------------------------------------------------------
// The browser: chromedriver as a child process, one headless Chromium session per case.

/// A running chromedriver, stopped (by its own pid) on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts chromedriver, or says why the case is skipped.
async fn driver() -> Option<Driver> {
    for bin in ["chromium", "chromedriver"] {
        if !installed(bin) {
            eprintln!("skipping: {bin} not installed (apt-get install chromium chromium-driver)");
            return None;
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    let status = format!("{}/status", driver.url);
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(&status)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

/// A headless Chromium session of `width` × 900 CSS pixels.
async fn browser(driver: &Driver, width: u32, accept_insecure_certs: bool) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = json!({
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                 format!("--window-size={},900", width.max(800))],
    });
    if width < 800 {
        // A desktop window cannot be narrower than 500 px: emulate a phone's viewport.
        options["mobileEmulation"] =
            json!({ "deviceMetrics": { "width": width, "height": 844, "pixelRatio": 3.0 } });
    }
    caps.insert("goog:chromeOptions".into(), options);
    if accept_insecure_certs {
        caps.insert("acceptInsecureCerts".into(), Value::Bool(true));
    }
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("peer-browser")
}

/// Runs one case in a fresh session; on failure saves a screenshot and the page's URL, then
/// fails the test with the case's error.
async fn case<F, Fut>(name: &str, width: u32, insecure: bool, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Check>,
{
    let Some(driver) = driver().await else {
        return;
    };
    let b = browser(&driver, width, insecure).await;
    let result = body(b.clone()).await;
    if let Err(e) = &result {
        let dir = screenshot_dir();
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}.png"));
        if let Ok(png) = b.screenshot().await {
            let _ = std::fs::write(&file, png);
        }
        let at = b.current_url().await.map(|u| u.to_string());
        let _ = b.close().await;
        panic!(
            "{name}: {e:#}\n  page: {at:?}\n  screenshot: {}",
            file.display()
        );
    }
    snap(&b, &format!("{name}.ok")).await;
    let _ = b.close().await;
}

/// With `AUTHPROOF_SCREENSHOTS` set, saves the page as `target/peer-browser/<name>.png` (to
/// review the pages by eye).
async fn snap(b: &Client, name: &str) {
    if std::env::var_os("AUTHPROOF_SCREENSHOTS").is_some() {
        let dir = screenshot_dir();
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = b.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The servers: the mock IdP (sign-in and consent pages on), the proxy, and the client's
// redirect URI (a page that records the codes it receives).

struct Env {
    idp: MockIdpHandle,
    proxy: ProxyHandle,
    clock: Clock,
    app: App,
}

/// The MCP client's side: its redirect URI, and every query it received there.
#[derive(Clone)]
struct App {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Value>>>,
}

impl App {
    async fn start() -> App {
        use axum::extract::{OriginalUri, Query, State};
        use axum::response::Html;
        type Hits = Arc<Mutex<Vec<Value>>>;
        let hits: Hits = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://127.0.0.1:{}", addr.port());
        let router = axum::Router::new()
            .route(
                "/favicon.ico",
                axum::routing::get(|| async { axum::http::StatusCode::NOT_FOUND }),
            )
            // Client ID metadata documents: any path under /clients/ is a client whose ID is
            // the document's URL and whose redirect URI is /cimd-cb.
            .route(
                "/clients/{*rest}",
                axum::routing::get(move |OriginalUri(uri): OriginalUri| {
                    let base = base.clone();
                    async move {
                        axum::Json(json!({
                            "client_id": format!("{base}{}", uri.path()),
                            "client_name": "Metadata Document Client",
                            "redirect_uris": [format!("{base}/cimd-cb")],
                            "token_endpoint_auth_method": "none",
                        }))
                    }
                }),
            )
            .route(
                "/{*path}",
                axum::routing::get(
                    |State(h): State<Hits>, Query(q): Query<serde_json::Map<String, Value>>| async move {
                        h.lock().push(Value::Object(q));
                        Html("<!doctype html><title>Back in the app</title><h1>Back in the app</h1>")
                    },
                ),
            )
            .with_state(hits.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        App { addr, hits }
    }

    fn redirect_uri(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }
}

fn idp_yaml() -> &'static str {
    "flavor: oidc\n\
     consent: prompt\n\
     clients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_basic, name: Upstream App }]\n\
     users: [{ sub: alice, claims: { email: alice@example.com } }]\n"
}

async fn start(tweak: impl FnOnce(&mut ProxyConfig)) -> Env {
    start_at(None, tweak).await
}

/// Starts everything; `base_url` is the proxy's public URL when it is served elsewhere (https).
async fn start_at(base_url: Option<String>, tweak: impl FnOnce(&mut ProxyConfig)) -> Env {
    let clock = Clock::system();
    let idp = MockIdp::builder()
        .config(foundations::yaml::from_str(idp_yaml(), "<browser idp>").expect("idp config"))
        .clock(clock.clone())
        .spawn()
        .await
        .expect("mock idp");
    let mut c = ProxyConfig {
        base_url,
        ..ProxyConfig::default()
    };
    c.upstream.config_url = Some(idp.discovery_url());
    c.upstream.client_id = "upstream-app".into();
    c.upstream.client_secret = Some(Secret::new("s3cret"));
    c.upstream.token_endpoint_auth_method = Some("client_secret_basic".parse().unwrap());
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c.upstream.timeout = HumanDuration::secs(5);
    c.valid_scopes = vec!["openid".into(), "email".into()];
    c.allowed_client_redirect_uris = Some(vec!["http://127.0.0.1:*".into()]);
    c.consent = ConsentMode::Always;
    c.jwt_signing_key = Some(Secret::new("browser-test-signing-key-0123456789"));
    tweak(&mut c);
    let proxy = Proxy::spawn(
        c,
        SpawnOptions {
            clock: clock.clone(),
            ..SpawnOptions::default()
        },
    )
    .await
    .expect("proxy");
    let app = App::start().await;
    Env {
        idp,
        proxy,
        clock,
        app,
    }
}

impl Env {
    /// A flow client that registered `redirect_uri` under `name`, and the authorization URL
    /// for the browser to open (its PKCE verifier stays in the flow client).
    async fn client(&self, name: &str, redirect_uri: &str) -> anyhow::Result<(FlowClient, String)> {
        // The proxy's own URL for API calls (https runs through the TLS front below).
        let fc = FlowClient::new(&self.proxy.url())?;
        fc.discover().await?;
        let reg = fc
            .register(&json!({"redirect_uris": [redirect_uri], "client_name": name}))
            .await?;
        anyhow::ensure!(reg.status == 201, "register: {}", reg.body);
        let url = fc.authorization_url(&AuthorizeRequest {
            scope: Param::Value("openid email".into()),
            state: Param::Value("browser-state".into()),
            ..Default::default()
        })?;
        Ok((fc, url.to_string()))
    }

    fn hits(&self) -> Vec<Value> {
        self.app.hits.lock().clone()
    }

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------
// Page helpers.

async fn text(b: &Client) -> anyhow::Result<String> {
    Ok(b.find(Locator::Css("body")).await?.text().await?)
}

async fn click(b: &Client, css: &str) -> Check {
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await?
        .click()
        .await?;
    Ok(())
}

/// Waits until the page's URL starts with `prefix`.
async fn wait_url(b: &Client, prefix: &str) -> anyhow::Result<url::Url> {
    for _ in 0..100 {
        let u = b.current_url().await?;
        if u.as_str().starts_with(prefix) {
            return Ok(u);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("never reached {prefix}; at {}", b.current_url().await?)
}

/// Waits until the body's text contains `needle`.
async fn wait_text(b: &Client, needle: &str) -> anyhow::Result<String> {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(t) = text(b).await {
            if t.contains(needle) {
                return Ok(t);
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the page never said {needle:?}; it says:\n{last}")
}

/// The proxy's consent page → Allow → the mock IdP's sign-in page → alice → its consent
/// page → Approve → back at the client's redirect URI. Returns that URL.
async fn allow_and_sign_in(b: &Client, redirect_uri: &str) -> anyhow::Result<url::Url> {
    wait_text(b, "Authorize access").await?;
    click(b, "button[value=approve]").await?;
    wait_text(b, "Sign in").await?;
    click(b, "button[name=sub][value=alice]").await?;
    wait_text(b, "asks to act as you").await?;
    click(b, "button[value=approve]").await?;
    wait_url(b, redirect_uri).await
}

fn query(u: &url::Url, key: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Exchanges the code the browser brought back with the flow client.
async fn exchange(fc: &FlowClient, code: &str) -> Check {
    fc.update_memory(|m| m.code = Some(code.to_string()));
    let r = fc.token_code(TokenCodeRequest::default()).await?;
    anyhow::ensure!(r.status == 200, "token exchange: {} {}", r.status, r.body);
    anyhow::ensure!(r.json_str("access_token").is_some(), "{}", r.body);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cases.

#[tokio::test]
async fn allow_completes_the_flow_and_the_pages_say_what_happens() {
    case("allow", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (fc, url) = env.client("Friendly Helper", &redirect).await?;
        b.goto(&url).await?;
        let page = wait_text(&b, "Authorize access").await?;
        // What a person should be told on the proxy's page.
        for needle in [
            "Friendly Helper",
            "UNVERIFIED",
            "authorization code",
            "127.0.0.1",
            "this computer",
        ] {
            anyhow::ensure!(
                page.contains(needle),
                "consent page lacks {needle:?}:\n{page}"
            );
        }
        anyhow::ensure!(!page.contains("Credentials"), "{page}");
        snap(&b, "allow.consent").await;
        let idp_host = env.idp.url().trim_start_matches("http://").to_string();
        anyhow::ensure!(
            page.contains(&idp_host),
            "names the identity provider: {page}"
        );
        let back = allow_and_sign_in(&b, &redirect).await?;
        anyhow::ensure!(query(&back, "state").as_deref() == Some("browser-state"));
        anyhow::ensure!(query(&back, "iss") == Some(env.proxy.issuer()), "{back}");
        let code = query(&back, "code").ok_or_else(|| anyhow::anyhow!("no code: {back}"))?;
        exchange(&fc, &code).await?;
        anyhow::ensure!(env.hits().len() == 1, "{:?}", env.hits());
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn deny_on_the_proxy_page_sends_access_denied_and_never_reaches_the_idp() {
    case("deny", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (_fc, url) = env.client("Denied App", &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        click(&b, "button[value=deny]").await?;
        let back = wait_url(&b, &redirect).await?;
        anyhow::ensure!(
            query(&back, "error").as_deref() == Some("access_denied"),
            "{back}"
        );
        anyhow::ensure!(query(&back, "state").as_deref() == Some("browser-state"));
        anyhow::ensure!(query(&back, "code").is_none());
        anyhow::ensure!(
            env.idp
                .journal()
                .iter()
                .all(|e| !e.path.ends_with("/authorize")),
            "the IdP was never asked"
        );
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn deny_on_the_idp_page_comes_back_as_access_denied() {
    case("deny-at-idp", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (_fc, url) = env.client("App", &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        click(&b, "button[value=approve]").await?;
        wait_text(&b, "Sign in").await?;
        click(&b, "button[name=sub][value=alice]").await?;
        wait_text(&b, "asks to act as you").await?;
        click(&b, "button[value=deny]").await?;
        let back = wait_url(&b, &redirect).await?;
        anyhow::ensure!(
            query(&back, "error").as_deref() == Some("access_denied"),
            "{back}"
        );
        anyhow::ensure!(query(&back, "state").as_deref() == Some("browser-state"));
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_remembered_consent_covers_exactly_what_was_shown() {
    case("remember", 1280, false, |b| async move {
        let env = start(|c| c.consent = ConsentMode::Remember).await;
        let redirect = env.app.redirect_uri("/cb");
        let (fc, _) = env.client("App", &redirect).await?;
        let open = |scope: &'static str| {
            fc.authorization_url(&AuthorizeRequest {
                scope: Param::Value(scope.into()),
                ..Default::default()
            })
        };
        // First time: the page, then the IdP.
        b.goto(open("openid")?.as_str()).await?;
        allow_and_sign_in(&b, &redirect).await?;
        // The same request from the same browser (typed or opened, not cross-site): no page.
        b.goto(open("openid")?.as_str()).await?;
        let at = wait_url(&b, &env.idp.url()).await?;
        anyhow::ensure!(at.as_str().contains("scope=openid"), "{at}");
        // One more scope: asked again.
        b.goto(open("openid email")?.as_str()).await?;
        wait_url(&b, &format!("{}/consent", env.proxy.url())).await?;
        let page = wait_text(&b, "Allow access").await?;
        anyhow::ensure!(page.contains("email"), "{page}");
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_double_submit_says_already_submitted() {
    case("double-submit", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (_fc, url) = env.client("App", &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        let first = b.window().await?;
        // The first submission goes on in another tab (as if the first click's answer had
        // arrived), and the same form is submitted again from this page.
        b.execute("document.forms[0].target = '_blank';", vec![])
            .await?;
        click(&b, "button[value=approve]").await?;
        let mut tabs = Vec::new();
        for _ in 0..50 {
            tabs = b.windows().await?;
            if tabs.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let second = tabs
            .into_iter()
            .find(|w| *w != first)
            .ok_or_else(|| anyhow::anyhow!("the first submission opened no tab"))?;
        b.switch_to_window(second).await?;
        wait_text(&b, "Sign in").await?;
        b.switch_to_window(first).await?;
        b.execute("document.forms[0].target = '_self';", vec![])
            .await?;
        click(&b, "button[value=approve]").await?;
        let page = wait_text(&b, "Already submitted").await?;
        anyhow::ensure!(!page.contains("mismatch"), "{page}");
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_back_button_after_completion_issues_nothing_new() {
    case("back-button", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (fc, url) = env.client("App", &redirect).await?;
        b.goto(&url).await?;
        let consent_url = wait_url(&b, &format!("{}/consent", env.proxy.url())).await?;
        let back = allow_and_sign_in(&b, &redirect).await?;
        let code = query(&back, "code").ok_or_else(|| anyhow::anyhow!("no code"))?;
        exchange(&fc, &code).await?;
        // Back through the history as far as the proxy's consent page.
        for _ in 0..4 {
            b.back().await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The consent page itself, opened again: the transaction is spent.
        b.goto(consent_url.as_str()).await?;
        let page = wait_text(&b, "Authorization expired").await?;
        anyhow::ensure!(!page.contains("Allow access"), "{page}");
        let codes: Vec<_> = env
            .hits()
            .iter()
            .filter(|h| h.get("code").is_some())
            .cloned()
            .collect();
        anyhow::ensure!(codes.len() == 1, "one code only: {codes:?}");
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn an_expired_transaction_is_explained() {
    case("expired", 1280, false, |b| async move {
        let env = start(|c| c.transaction_ttl = HumanDuration::secs(60)).await;
        let redirect = env.app.redirect_uri("/cb");
        let (_fc, url) = env.client("App", &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        env.clock.advance(Duration::from_secs(120));
        click(&b, "button[value=approve]").await?;
        let page = wait_text(&b, "expired").await?;
        anyhow::ensure!(!page.contains("mismatch"), "{page}");
        anyhow::ensure!(!page.contains("Already submitted"), "{page}");
        anyhow::ensure!(env.hits().is_empty(), "nothing reached the client");
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn framing_is_refused_and_styles_apply_under_the_csp() {
    case("csp", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (_fc, url) = env.client("App", &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        // The style sheet applied: the Allow button is blue with white text, the card white.
        let allow = b.find(Locator::Css("button[value=approve]")).await?;
        let bg = allow.css_value("background-color").await?;
        anyhow::ensure!(bg == "rgba(10, 102, 216, 1)" || bg == "rgb(10, 102, 216)", "{bg}");
        let main_bg = b.find(Locator::Css("main")).await?.css_value("background-color").await?;
        anyhow::ensure!(main_bg.contains("255, 255, 255"), "{main_bg}");
        // An inline style the page did not ship is blocked by the CSP.
        let injected = b
            .execute(
                "const s = document.createElement('style'); s.textContent = 'h1{color: rgb(1, 2, 3)}';\
                 document.head.appendChild(s); return getComputedStyle(document.querySelector('h1')).color;",
                vec![],
            )
            .await?;
        anyhow::ensure!(injected != json!("rgb(1, 2, 3)"), "injected style applied");
        // The consent page inside a frame of another origin: the browser refuses to show it.
        let consent_url = b.current_url().await?;
        b.goto(&env.app.redirect_uri("/framer")).await?;
        b.execute(
            "const f = document.createElement('iframe'); f.id = 'f'; f.src = arguments[0];\
             document.body.appendChild(f);",
            vec![json!(consent_url.as_str())],
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let framed = b
            .execute(
                "try { const d = document.getElementById('f').contentDocument; \
                 return d ? d.body.innerText : 'cross-origin'; } catch (e) { return 'blocked'; }",
                vec![],
            )
            .await?;
        // Chromium shows a blocked frame as an error page: never the form.
        b.enter_frame(0).await?;
        let inside = b.source().await.unwrap_or_default();
        b.enter_parent_frame().await?;
        anyhow::ensure!(
            !inside.contains("Allow access"),
            "the consent form rendered inside a frame ({framed}): {inside}"
        );
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn cookies_are_http_only_and_same_site() {
    case("cookies-http", 1280, false, |b| async move {
        let env = start(|_| {}).await;
        let redirect = env.app.redirect_uri("/cb");
        let (_fc, url) = env.client("App", &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        let cookies = b.get_all_cookies().await?;
        let csrf = cookies
            .iter()
            .find(|c| c.name() == "authproof-csrf")
            .ok_or_else(|| anyhow::anyhow!("no csrf cookie: {cookies:?}"))?;
        anyhow::ensure!(csrf.http_only() == Some(true), "{csrf:?}");
        anyhow::ensure!(
            csrf.same_site().map(|s| s.to_string()).as_deref() == Some("Lax"),
            "{csrf:?}"
        );
        anyhow::ensure!(csrf.path() == Some("/"), "{csrf:?}");
        // Not readable from the page's scripts.
        let js = b.execute("return document.cookie;", vec![]).await?;
        anyhow::ensure!(!js.to_string().contains("authproof"), "{js}");
        env.stop().await;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn on_https_the_cookies_are_host_prefixed_and_secure() {
    case("cookies-https", 1280, true, |b| async move {
        let front = tls::Front::bind().await?;
        let env = start_at(Some(front.base_url()), |_| {}).await;
        front.forward_to(env.proxy.local_addr());
        let redirect = env.app.redirect_uri("/cb");
        let fc = FlowClient::with_http(&front.base_url(), front.http_client()?)?;
        fc.discover().await?;
        let reg = fc
            .register(&json!({"redirect_uris": [redirect], "client_name": "Tls App"}))
            .await?;
        anyhow::ensure!(reg.status == 201, "register: {}", reg.body);
        let url = fc.authorization_url(&AuthorizeRequest::default())?;
        b.goto(url.as_str()).await?;
        wait_text(&b, "Authorize access").await?;
        let cookies = b.get_all_cookies().await?;
        let csrf = cookies
            .iter()
            .find(|c| c.name() == "__Host-authproof-csrf")
            .ok_or_else(|| anyhow::anyhow!("no __Host- csrf cookie: {cookies:?}"))?;
        anyhow::ensure!(csrf.secure() == Some(true), "{csrf:?}");
        anyhow::ensure!(csrf.http_only() == Some(true), "{csrf:?}");
        anyhow::ensure!(
            csrf.domain().is_none_or(|d| !d.starts_with('.')),
            "{csrf:?}"
        );
        // The browser accepted the prefixed cookie, so the whole flow works over https.
        let back = allow_and_sign_in(&b, &redirect).await?;
        let code = query(&back, "code").ok_or_else(|| anyhow::anyhow!("no code: {back}"))?;
        exchange(&fc, &code).await?;
        env.stop().await;
        Ok(())
    })
    .await;
}

/// The viewport and page widths, the card's edges and the right edge of the widest value.
const MEASURE: &str = "const r = document.querySelector('main').getBoundingClientRect();\
    const codes = [...document.querySelectorAll('code, dd')].map(e => e.getBoundingClientRect().right);\
    return { vw: document.documentElement.clientWidth, sw: document.documentElement.scrollWidth,\
             left: r.left, right: r.right, widest: Math.max(...codes) };";

#[tokio::test]
async fn at_phone_width_nothing_overflows_and_long_ids_wrap() {
    case("phone-390", 390, false, |b| async move {
        let env = start(|c| c.cimd_allow_http_loopback = true).await;
        // A long unbroken name and a long redirect URI path, as real clients send them.
        let long_path = format!("/oauth/callback/{}", "x".repeat(120));
        let redirect = env.app.redirect_uri(&long_path);
        let name = format!("VeryLongApplicationName{}", "Z".repeat(60));
        let (_fc, url) = env.client(&name, &redirect).await?;
        b.goto(&url).await?;
        wait_text(&b, "Authorize access").await?;
        let m = b.execute(MEASURE, vec![]).await?;
        let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        let (vw, sw) = (f("vw"), f("sw"));
        anyhow::ensure!(vw <= 400.0, "the window is phone-sized: {m}");
        anyhow::ensure!(sw <= vw, "horizontal overflow: {m}");
        anyhow::ensure!(f("left") >= 8.0 && vw - f("right") >= 8.0, "keeps a margin: {m}");
        anyhow::ensure!(f("widest") <= f("right"), "long identifiers wrap inside the card: {m}");
        snap(&b, "phone-390.consent").await;
        // A client ID metadata document client: its ID is a long URL.
        let fc = FlowClient::new(&env.proxy.url())?;
        fc.discover().await?;
        let client_id = env
            .app
            .redirect_uri(&format!("/clients/{}/client.json", "segment-".repeat(16)));
        let url = fc.authorization_url(&AuthorizeRequest {
            client_id: Param::Value(client_id.clone()),
            redirect_uri: Param::Value(env.app.redirect_uri("/cimd-cb")),
            ..Default::default()
        })?;
        b.goto(url.as_str()).await?;
        let page = wait_text(&b, "Authorize access").await?;
        anyhow::ensure!(page.contains("metadata document"), "{page}");
        let m = b.execute(MEASURE, vec![]).await?;
        let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        anyhow::ensure!(f("sw") <= f("vw"), "horizontal overflow (CIMD): {m}");
        anyhow::ensure!(f("widest") <= f("right"), "the client ID wraps (CIMD): {m}");
        snap(&b, "phone-390.cimd").await;
        // The IdP's pages at the same width.
        click(&b, "button[value=approve]").await?;
        wait_text(&b, "Sign in").await?;
        let sw = b
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await?;
        anyhow::ensure!(sw.as_f64() == Some(0.0), "the sign-in page overflows by {sw}");
        env.stop().await;
        Ok(())
    })
    .await;
}
