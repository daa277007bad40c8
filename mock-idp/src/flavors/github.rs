//! A GitHub OAuth app: not OIDC, so no discovery, no JWKS, no ID tokens.

use super::Paths;

pub(super) const PATHS: Paths = Paths {
    authorize: "/login/oauth/authorize",
    token: "/login/oauth/access_token",
    login: "/login/session",
    consent: "/login/oauth/consent",
    userinfo: None,
    jwks: None,
    register: None,
    revoke: None,
    introspect: None,
    user: Some("/user"),
    user_emails: Some("/user/emails"),
};
