//! What differs between the emulated providers: endpoint paths, discovery documents, ids.

mod github;
mod oidc;
mod workos;

use crate::config::{Flavor, KeyAlgorithm};
use serde_json::Value;

/// Endpoint paths relative to the issuer's path. `None`: the flavor has no such endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paths {
    /// Authorization endpoint.
    pub authorize: &'static str,
    /// Token endpoint.
    pub token: &'static str,
    /// Login form target.
    pub login: &'static str,
    /// Consent form target.
    pub consent: &'static str,
    /// OIDC userinfo.
    pub userinfo: Option<&'static str>,
    /// JWKS.
    pub jwks: Option<&'static str>,
    /// RFC 7591 registration.
    pub register: Option<&'static str>,
    /// RFC 7009 revocation.
    pub revoke: Option<&'static str>,
    /// RFC 7662 introspection.
    pub introspect: Option<&'static str>,
    /// GitHub's `GET /user`.
    pub user: Option<&'static str>,
    /// GitHub's `GET /user/emails`.
    pub user_emails: Option<&'static str>,
}

impl Paths {
    /// The endpoints as (name, path) pairs; the names are what faults match on.
    pub fn named(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = vec![
            ("authorize", self.authorize),
            ("token", self.token),
            ("login", self.login),
            ("consent", self.consent),
        ];
        for (name, p) in [
            ("userinfo", self.userinfo),
            ("jwks", self.jwks),
            ("register", self.register),
            ("revoke", self.revoke),
            ("introspect", self.introspect),
            ("user", self.user),
            ("user_emails", self.user_emails),
        ] {
            if let Some(p) = p {
                v.push((name, p));
            }
        }
        v
    }
}

/// The paths of a flavor.
pub fn paths(flavor: Flavor) -> Paths {
    match flavor {
        Flavor::Oidc => oidc::PATHS,
        Flavor::Workos => workos::PATHS,
        Flavor::Github => github::PATHS,
    }
}

/// What the discovery documents are built from.
#[derive(Debug, Clone)]
pub struct MetadataInput<'a> {
    /// The exact issuer.
    pub issuer: &'a str,
    /// Base for endpoint URLs (the issuer without a trailing slash).
    pub base: &'a str,
    /// Whether DCR is on.
    pub registration: bool,
    /// What the IdP signs ID tokens with (`keys.algorithm`).
    pub signing_alg: KeyAlgorithm,
}

impl MetadataInput<'_> {
    /// Absolute URL of an endpoint path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `/.well-known/openid-configuration`, or None when the flavor has no discovery.
pub fn openid_configuration(flavor: Flavor, m: &MetadataInput<'_>) -> Option<Value> {
    match flavor {
        Flavor::Oidc => Some(oidc::openid_configuration(m)),
        Flavor::Workos => Some(workos::openid_configuration(m)),
        Flavor::Github => None,
    }
}

/// RFC 8414 `/.well-known/oauth-authorization-server`, or None.
pub fn authorization_server_metadata(flavor: Flavor, m: &MetadataInput<'_>) -> Option<Value> {
    match flavor {
        Flavor::Oidc => Some(oidc::authorization_server_metadata(m)),
        Flavor::Workos => Some(workos::authorization_server_metadata(m)),
        Flavor::Github => None,
    }
}

/// Whether authorization responses carry RFC 9207 `iss`.
pub fn sends_iss_in_redirect(flavor: Flavor) -> bool {
    flavor == Flavor::Oidc
}

/// Whether the flavor issues ID tokens.
pub fn issues_id_tokens(flavor: Flavor) -> bool {
    flavor != Flavor::Github
}

/// Grant types the flavor's token endpoint accepts.
pub fn grant_types(flavor: Flavor) -> &'static [&'static str] {
    match flavor {
        Flavor::Github => &["authorization_code", "refresh_token"],
        _ => &["authorization_code", "refresh_token", "client_credentials"],
    }
}
