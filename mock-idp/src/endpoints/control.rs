//! The control API under `/_mock/` (JSON): the same operations as [`crate::MockIdpHandle`].
//!
//! | method + path | body | effect |
//! |---|---|---|
//! | GET /_mock/health | | `{"ok":true}` |
//! | GET /_mock/config | | current configuration |
//! | GET, DELETE /_mock/journal | | read / clear the journal |
//! | GET, POST, DELETE /_mock/faults | FaultSpec or [FaultSpec] | list / add / clear faults |
//! | GET /_mock/keys, POST /_mock/keys/rotate | | published kids / rotate |
//! | GET /_mock/clock | | `{now_unix, frozen}` |
//! | POST /_mock/clock/advance | `{"secs": N}` | move time forward |
//! | POST /_mock/clock/freeze, /_mock/clock/resume | | stop / restart time |
//! | POST /_mock/clock/set | `{"unix": T}` | set time |
//! | GET, POST /_mock/clients | ClientConfig | list / add a client |
//! | GET, POST /_mock/users | UserConfig | list / add a user |
//! | GET, PATCH /_mock/tokens | partial TokensConfig | token lifetimes and refresh behaviour (until reset) |
//! | GET /_mock/store | | how many codes and tokens are held |
//! | POST /_mock/reset | | back to the initial configuration |

use crate::config::{ClientConfig, UserConfig};
use crate::error::OAuthError;
use crate::faults::FaultSpec;
use crate::params::JsonBody;
use crate::state::Idp;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

type Json = axum::Json<Value>;

fn ok() -> Json {
    axum::Json(json!({ "ok": true }))
}

fn bad(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::invalid_request(e.to_string())
}

/// The `/_mock` routes.
pub fn router() -> Router<Arc<Idp>> {
    Router::new()
        .route("/health", get(|| async { ok() }))
        .route("/config", get(config))
        .route("/journal", get(journal).delete(clear_journal))
        .route("/faults", get(faults).post(add_faults).delete(clear_faults))
        .route("/keys", get(keys))
        .route("/keys/rotate", post(rotate))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/clock/freeze", post(freeze))
        .route("/clock/resume", post(resume))
        .route("/clock/set", post(set_clock))
        .route("/clients", get(clients).post(add_client))
        .route("/users", get(users).post(add_user))
        .route("/tokens", get(tokens).patch(patch_tokens))
        .route("/store", get(store))
        .route("/reset", post(reset))
}

async fn tokens(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.settings.read().tokens.clone()).into_response()
}

/// Merge the given keys into the token settings (`{"refresh_rotation": "off"}`); the rest
/// stays. `POST /_mock/reset` goes back to the configuration at start.
async fn patch_tokens(
    State(idp): State<Arc<Idp>>,
    body: Result<JsonBody<Value>, OAuthError>,
) -> Result<Response, OAuthError> {
    let JsonBody(patch) = body?;
    let Value::Object(patch) = patch else {
        return Err(bad("expected a JSON object of token settings"));
    };
    let mut settings = idp.settings.write();
    let mut current = serde_json::to_value(&settings.tokens).map_err(bad)?;
    if let Value::Object(m) = &mut current {
        m.extend(patch);
    }
    settings.tokens = serde_json::from_value(current).map_err(bad)?;
    Ok(axum::Json(settings.tokens.clone()).into_response())
}

async fn config(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.current_config()).into_response()
}

async fn journal(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.journal.lock().entries()).into_response()
}

async fn clear_journal(State(idp): State<Arc<Idp>>) -> Json {
    idp.journal.lock().clear();
    ok()
}

async fn faults(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.faults.lock().specs()).into_response()
}

async fn add_faults(
    State(idp): State<Arc<Idp>>,
    body: Result<JsonBody<Value>, OAuthError>,
) -> Result<(StatusCode, Json), OAuthError> {
    let JsonBody(v) = body?;
    let specs: Vec<FaultSpec> = if v.is_array() {
        serde_json::from_value(v).map_err(bad)?
    } else {
        vec![serde_json::from_value(v).map_err(bad)?]
    };
    let n = specs.len();
    for s in specs {
        idp.add_fault(s);
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "ok": true, "added": n })),
    ))
}

async fn clear_faults(State(idp): State<Arc<Idp>>) -> Json {
    idp.faults.lock().clear();
    ok()
}

async fn keys(State(idp): State<Arc<Idp>>) -> Json {
    let now = idp.clock.now_unix();
    let ring = idp.keys.read();
    axum::Json(json!({ "active": ring.active().kid, "published": ring.kids(now) }))
}

async fn rotate(State(idp): State<Arc<Idp>>) -> Result<Json, OAuthError> {
    let idp2 = idp.clone();
    let kid = tokio::task::spawn_blocking(move || idp2.rotate_keys())
        .await
        .map_err(|e| {
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            )
        })?
        .map_err(|e| {
            OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            )
        })?;
    Ok(axum::Json(json!({ "ok": true, "kid": kid })))
}

fn clock_state(idp: &Idp) -> Json {
    axum::Json(json!({ "now_unix": idp.clock.now_unix(), "frozen": idp.clock.is_frozen() }))
}

async fn clock(State(idp): State<Arc<Idp>>) -> Json {
    clock_state(&idp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    secs: u64,
}

async fn advance(
    State(idp): State<Arc<Idp>>,
    body: Result<JsonBody<Advance>, OAuthError>,
) -> Result<Json, OAuthError> {
    let JsonBody(a) = body?;
    idp.clock.advance(Duration::from_secs(a.secs));
    Ok(clock_state(&idp))
}

async fn freeze(State(idp): State<Arc<Idp>>) -> Json {
    idp.clock.freeze();
    clock_state(&idp)
}

async fn resume(State(idp): State<Arc<Idp>>) -> Json {
    idp.clock.resume();
    clock_state(&idp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    unix: i64,
}

async fn set_clock(
    State(idp): State<Arc<Idp>>,
    body: Result<JsonBody<SetClock>, OAuthError>,
) -> Result<Json, OAuthError> {
    let JsonBody(s) = body?;
    idp.clock.set_unix(s.unix);
    Ok(clock_state(&idp))
}

async fn clients(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.current_config().clients).into_response()
}

async fn add_client(
    State(idp): State<Arc<Idp>>,
    body: Result<JsonBody<ClientConfig>, OAuthError>,
) -> Result<(StatusCode, Json), OAuthError> {
    let JsonBody(c) = body?;
    let mut probe = crate::config::IdpConfig::default();
    probe.clients.push(c.clone());
    probe.validate().map_err(bad)?;
    idp.add_client(c);
    Ok((StatusCode::CREATED, ok()))
}

async fn users(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.users.read().all()).into_response()
}

async fn add_user(
    State(idp): State<Arc<Idp>>,
    body: Result<JsonBody<UserConfig>, OAuthError>,
) -> Result<(StatusCode, Json), OAuthError> {
    let JsonBody(u) = body?;
    if u.sub.is_empty() {
        return Err(bad("sub must not be empty"));
    }
    idp.add_user(u);
    Ok((StatusCode::CREATED, ok()))
}

async fn store(State(idp): State<Arc<Idp>>) -> Response {
    axum::Json(idp.store.sizes()).into_response()
}

async fn reset(State(idp): State<Arc<Idp>>) -> Json {
    idp.reset();
    ok()
}
