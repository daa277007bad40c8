//! Codes, tokens, grants and pending logins, with expiry on the IdP's clock.
//!
//! Tokens are keyed by their SHA-256, so a presented token is found without decoding it.
//! [`Store::sweep`] drops what has expired; the server runs it periodically, so memory stays
//! bounded by the issue rate times the lifetimes.

use crate::ids::sha256;
use parking_lot::Mutex;
use std::collections::HashMap;

/// The hash a token is stored under.
pub type TokenKey = [u8; 32];

/// The hash of a token.
pub fn key_of(token: &str) -> TokenKey {
    sha256(token.as_bytes())
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect_uri of the authorization request, when it carried one.
    pub redirect_uri: Option<String>,
    /// The user.
    pub sub: String,
    /// Granted scope (space-separated).
    pub scope: String,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// PKCE challenge and method (`S256` or `plain`).
    pub challenge: Option<(String, String)>,
    /// RFC 8707 resources.
    pub resources: Vec<String>,
    /// Whether the request asked for offline access Google-style (`access_type=offline`
    /// with `prompt=consent`).
    pub offline: bool,
    /// When the user logged in.
    pub auth_time: i64,
    /// Expiry (unix seconds).
    pub expires_at: i64,
    /// Redeemed already (a replay revokes the grant).
    pub used: bool,
    /// The grant the code starts.
    pub grant_id: String,
}

/// A grant: what a code redemption started, shared by the tokens it and its refreshes issued.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Client.
    pub client_id: String,
    /// User (None for client_credentials).
    pub sub: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// RFC 8707 resources from the authorization request.
    pub resources: Vec<String>,
    /// When the user logged in.
    pub auth_time: i64,
    /// Session / consent id (`sid`).
    pub sid: String,
    /// Revoked: every token of the grant is dead.
    pub revoked: bool,
    /// Kept until the last of its tokens expires.
    pub expires_at: i64,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    /// Grant (None for client_credentials).
    pub grant_id: Option<String>,
    /// Client.
    pub client_id: String,
    /// Subject (the client id for client_credentials).
    pub sub: String,
    /// Whether a user is behind the token.
    pub user: bool,
    /// Scope.
    pub scope: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// JWT id (or a random id for opaque tokens).
    pub jti: String,
    /// Revoked individually.
    pub revoked: bool,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    /// Grant.
    pub grant_id: String,
    /// Client.
    pub client_id: String,
    /// Scope it may refresh.
    pub scope: String,
    /// Expiry (i64::MAX: none).
    pub exp: i64,
    /// Rotated away (presenting it again is a reuse).
    pub used: bool,
    /// Revoked individually.
    pub revoked: bool,
}

/// A login or consent in progress.
#[derive(Debug, Clone)]
pub struct Interaction {
    /// The validated authorization request.
    pub request: AuthzRequest,
    /// The user, once logged in.
    pub sub: Option<String>,
    /// When the user logged in.
    pub auth_time: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// Everything the IdP has issued.
#[derive(Debug, Default)]
pub struct Store {
    /// Codes by value.
    pub codes: Mutex<HashMap<String, CodeRecord>>,
    /// Grants by id.
    pub grants: Mutex<HashMap<String, Grant>>,
    /// Access tokens by hash.
    pub access: Mutex<HashMap<TokenKey, AccessRecord>>,
    /// Refresh tokens by hash.
    pub refresh: Mutex<HashMap<TokenKey, RefreshRecord>>,
    /// Logins in progress by id.
    pub interactions: Mutex<HashMap<String, Interaction>>,
    /// `jti`s of client assertions seen (replay protection), with their expiry.
    pub assertion_jtis: Mutex<HashMap<String, i64>>,
}

/// How many entries each map holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreSizes {
    /// Codes.
    pub codes: usize,
    /// Grants.
    pub grants: usize,
    /// Access tokens.
    pub access_tokens: usize,
    /// Refresh tokens.
    pub refresh_tokens: usize,
    /// Logins in progress.
    pub interactions: usize,
}

impl Store {
    /// Drop everything.
    pub fn clear(&self) {
        self.codes.lock().clear();
        self.grants.lock().clear();
        self.access.lock().clear();
        self.refresh.lock().clear();
        self.interactions.lock().clear();
        self.assertion_jtis.lock().clear();
    }

    /// Drop what expired before `now`.
    pub fn sweep(&self, now: i64) {
        self.codes.lock().retain(|_, c| c.expires_at > now);
        self.access.lock().retain(|_, a| a.exp > now);
        self.refresh.lock().retain(|_, r| r.exp > now);
        self.grants.lock().retain(|_, g| g.expires_at > now);
        self.interactions.lock().retain(|_, i| i.expires_at > now);
        self.assertion_jtis.lock().retain(|_, exp| *exp > now);
    }

    /// Current sizes.
    pub fn sizes(&self) -> StoreSizes {
        StoreSizes {
            codes: self.codes.lock().len(),
            grants: self.grants.lock().len(),
            access_tokens: self.access.lock().len(),
            refresh_tokens: self.refresh.lock().len(),
            interactions: self.interactions.lock().len(),
        }
    }

    /// Revoke a grant (every token it issued stops working).
    pub fn revoke_grant(&self, grant_id: &str) {
        if let Some(g) = self.grants.lock().get_mut(grant_id) {
            g.revoked = true;
        }
    }

    /// Whether a grant is usable.
    pub fn grant_live(&self, grant_id: &str) -> bool {
        self.grants.lock().get(grant_id).is_some_and(|g| !g.revoked)
    }

    /// Stretch a grant's lifetime to cover a token expiring at `exp`.
    pub fn extend_grant(&self, grant_id: &str, exp: i64) {
        if let Some(g) = self.grants.lock().get_mut(grant_id)
            && g.expires_at < exp
        {
            g.expires_at = exp;
        }
    }

    /// The live access token behind `token`, if any.
    pub fn live_access(&self, token: &str, now: i64) -> Option<AccessRecord> {
        let rec = self.access.lock().get(&key_of(token)).cloned()?;
        if rec.revoked || rec.exp <= now {
            return None;
        }
        if let Some(g) = &rec.grant_id
            && !self.grant_live(g)
        {
            return None;
        }
        Some(rec)
    }
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthzRequest {
    /// Client.
    pub client_id: String,
    /// Where to send the answer.
    pub redirect_uri: String,
    /// Whether the request carried `redirect_uri` (then the token request must repeat it).
    pub redirect_uri_given: bool,
    /// Requested scope.
    pub scope: String,
    /// Opaque client state.
    pub state: Option<String>,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// PKCE challenge and method.
    pub challenge: Option<(String, String)>,
    /// RFC 8707 resources.
    pub resources: Vec<String>,
    /// Google-style offline access asked for (`access_type=offline` + `prompt=consent`).
    pub offline: bool,
    /// OIDC prompt values.
    pub prompt: Vec<String>,
    /// login_hint (GitHub: `login`).
    pub login_hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(exp: i64, grant: Option<&str>) -> AccessRecord {
        AccessRecord {
            grant_id: grant.map(String::from),
            client_id: "c".into(),
            sub: "u".into(),
            user: true,
            scope: String::new(),
            aud: vec![],
            iat: 0,
            exp,
            jti: "j".into(),
            revoked: false,
        }
    }

    #[test]
    fn sweep_evicts_expired_entries() {
        let s = Store::default();
        s.access.lock().insert(key_of("a"), access(10, None));
        s.access.lock().insert(key_of("b"), access(100, None));
        s.sweep(50);
        assert_eq!(s.sizes().access_tokens, 1);
        assert!(s.live_access("b", 50).is_some());
        assert!(s.live_access("b", 100).is_none());
    }

    #[test]
    fn revoking_a_grant_kills_its_tokens() {
        let s = Store::default();
        s.grants.lock().insert(
            "g".into(),
            Grant {
                client_id: "c".into(),
                sub: None,
                scope: String::new(),
                resources: vec![],
                auth_time: 0,
                sid: "s".into(),
                revoked: false,
                expires_at: 100,
            },
        );
        s.access.lock().insert(key_of("t"), access(100, Some("g")));
        assert!(s.live_access("t", 1).is_some());
        s.revoke_grant("g");
        assert!(s.live_access("t", 1).is_none());
    }
}
