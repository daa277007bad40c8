//! HTTP endpoints, one family per file, and the router that mounts them under the issuer path.

pub mod answer;
pub mod authorize;
pub mod control;
pub mod discovery;
pub mod interact;
pub mod introspect;
pub mod register;
pub mod revoke;
pub mod token;
pub mod userinfo;

use crate::config::Flavor;
use crate::error::OAuthError;
use crate::state::{Idp, discovery_paths};
use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use std::collections::HashSet;
use std::sync::Arc;

async fn method_not_allowed() -> axum::response::Response {
    OAuthError::method_not_allowed().into_response()
}

async fn not_found() -> axum::response::Response {
    OAuthError::not_found().into_response()
}

/// axum treats `{` and `}` in route paths as captures: escape them.
fn escape(path: &str) -> String {
    path.replace('{', "{{").replace('}', "}}")
}

struct Routes {
    router: Router<Arc<Idp>>,
    seen: HashSet<String>,
}

impl Routes {
    fn add(&mut self, path: String, mr: MethodRouter<Arc<Idp>>) {
        if self.seen.insert(path.clone()) {
            let r = std::mem::take(&mut self.router);
            self.router = r.route(&escape(&path), mr.fallback(method_not_allowed));
        }
    }
}

/// The whole router: the flavor's endpoints under the issuer path, discovery, `/_mock`.
pub fn router(idp: Arc<Idp>) -> Router {
    let p = idp.prefix.clone();
    let paths = idp.paths;
    let mut r = Routes {
        router: Router::new(),
        seen: HashSet::new(),
    };
    if idp.flavor != Flavor::Github {
        for d in discovery_paths(&p, "openid-configuration") {
            r.add(d, get(discovery::openid_configuration));
        }
        for d in discovery_paths(&p, "oauth-authorization-server") {
            r.add(d, get(discovery::authorization_server));
        }
    }
    r.add(
        format!("{p}{}", paths.authorize),
        get(authorize::get).post(authorize::post),
    );
    r.add(format!("{p}{}", paths.login), post(interact::login));
    r.add(format!("{p}{}", paths.consent), post(interact::consent));
    r.add(format!("{p}{}", paths.token), post(token::post));
    if let Some(x) = paths.jwks {
        r.add(format!("{p}{x}"), get(discovery::jwks));
    }
    if let Some(x) = paths.userinfo {
        r.add(
            format!("{p}{x}"),
            get(userinfo::userinfo).post(userinfo::userinfo),
        );
    }
    if let Some(x) = paths.register {
        r.add(format!("{p}{x}"), post(register::post));
    }
    if let Some(x) = paths.revoke {
        r.add(format!("{p}{x}"), post(revoke::post));
    }
    if let Some(x) = paths.introspect {
        r.add(format!("{p}{x}"), post(introspect::post));
    }
    if let Some(x) = paths.user {
        r.add(format!("{p}{x}"), get(userinfo::github_user_endpoint));
    }
    if let Some(x) = paths.user_emails {
        r.add(format!("{p}{x}"), get(userinfo::github_user_emails));
    }
    r.router
        .nest("/_mock", control::router())
        .fallback(not_found)
        .with_state(idp)
}
