//! The typed records the proxy keeps and [`Records`], the typed view of a [`Store`].

use super::{Cap, Collection, Decoded, Store, StoreError};
use crate::proxy::redirect::ApplicationType;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A client known to the proxy: registered by DCR or described by a CIMD document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client_id (a UUID for DCR, the document URL for CIMD).
    pub client_id: String,
    /// Registered redirect URIs (CIMD: the entries that passed the allow-list).
    pub redirect_uris: Vec<String>,
    /// `native` (default) or `web`.
    pub application_type: ApplicationType,
    /// Shown on the consent page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Scopes the client may request (space-separated); `None` = any valid scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `authorization_code` and usually `refresh_token`.
    pub grant_types: Vec<String>,
    /// `code`.
    pub response_types: Vec<String>,
    /// Always `none`: the proxy registers public clients.
    pub token_endpoint_auth_method: String,
    /// Registration time (Unix seconds).
    pub client_id_issued_at: i64,
    /// Other metadata echoed back (client_uri, logo_uri, contacts, …).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Whether this client came from a client ID metadata document.
    #[serde(default)]
    pub cimd: bool,
    /// A DCR registration that has not completed a token exchange yet: it lives only
    /// `registration_provisional_ttl`; the first successful exchange makes it durable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

impl ClientRecord {
    /// The name to show people.
    pub fn display_name(&self) -> &str {
        self.client_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&self.client_id)
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// The registration response (RFC 7591 §3.2.1).
    pub fn to_registration_response(&self) -> serde_json::Value {
        let mut m = self.extra.clone();
        m.insert("client_id".into(), self.client_id.clone().into());
        m.insert(
            "client_id_issued_at".into(),
            self.client_id_issued_at.into(),
        );
        m.insert("redirect_uris".into(), self.redirect_uris.clone().into());
        m.insert(
            "token_endpoint_auth_method".into(),
            self.token_endpoint_auth_method.clone().into(),
        );
        m.insert("grant_types".into(), self.grant_types.clone().into());
        m.insert("response_types".into(), self.response_types.clone().into());
        m.insert(
            "application_type".into(),
            self.application_type.as_str().into(),
        );
        if let Some(n) = &self.client_name {
            m.insert("client_name".into(), n.clone().into());
        }
        if let Some(s) = &self.scope {
            m.insert("scope".into(), s.clone().into());
        }
        serde_json::Value::Object(m)
    }
}

/// An authorization request waiting for consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Random id, carried by the consent page.
    pub txn_id: String,
    /// The requesting client.
    pub client_id: String,
    /// The validated redirect URI (as the client sent it, or the single registered one).
    pub redirect_uri: String,
    /// Whether the client sent `redirect_uri` (then /token must send the same).
    pub redirect_uri_explicit: bool,
    /// The client's `state`, echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The client's S256 challenge.
    pub code_challenge: String,
    /// Granted scopes (requested, or the defaults).
    pub scopes: Vec<String>,
    /// The resource the tokens are for (always this proxy's resource).
    pub resource: String,
    /// An OIDC `login_hint` passed on to the upstream IdP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// When the request arrived (Unix seconds).
    pub created_at: i64,
}

/// A consent page's CSRF token: one per transaction, replaced each time the page is shown
/// (stored under a hash of the transaction id); a used token's tombstone is stored under the
/// token's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsrfRecord {
    /// The transaction the page was shown for.
    pub txn_id: String,
    /// SHA-256 of the browser's CSRF cookie value.
    pub cookie_hash: String,
    /// SHA-256 of the token the page carries.
    #[serde(default)]
    pub token_hash: String,
}

/// A remembered consent (stored under a hash of the browser secret and the client id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The approved client.
    pub client_id: String,
    /// When it was approved (Unix seconds).
    pub approved_at: i64,
}

/// An approved flow, sent to the upstream IdP (stored under the hash of the upstream `state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamState {
    /// The client's authorization request.
    pub txn: Transaction,
    /// The proxy's own PKCE verifier toward the upstream.
    pub proxy_code_verifier: String,
    /// SHA-256 of the browser-binding cookie set on approval.
    pub binding_hash: String,
    /// When the browser was sent upstream (Unix seconds).
    pub created_at: i64,
}

/// The proxy's authorization code (stored under the code's hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI it was delivered to.
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri`.
    pub redirect_uri_explicit: bool,
    /// The client's S256 challenge.
    pub code_challenge: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The resource (token audience).
    pub resource: String,
    /// The upstream token set behind this code.
    pub grant_id: String,
    /// The end user.
    pub subject: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// A redeemed code, kept to detect replay (stored under the code's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedCode {
    /// The grant whose tokens a replay revokes.
    pub grant_id: String,
}

/// Tokens the upstream IdP issued; they never leave the proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamTokens {
    /// The upstream access token.
    pub access_token: String,
    /// Usually `Bearer`.
    pub token_type: String,
    /// The upstream refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The upstream ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// When the upstream access token expires (Unix seconds), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// When the upstream refresh token expires (Unix seconds), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<i64>,
    /// Scope the upstream granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// One completed authorization: the upstream tokens and who they are for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Random id.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The end user.
    pub subject: String,
    /// Scopes granted by the proxy.
    pub scopes: Vec<String>,
    /// The resource (token audience).
    pub resource: String,
    /// The upstream tokens.
    pub upstream: UpstreamTokens,
    /// When the authorization completed (Unix seconds).
    pub created_at: i64,
}

/// What an access token's jti maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenMapping {
    /// The grant whose upstream tokens back it.
    pub grant_id: String,
    /// The refresh family it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
}

/// A refresh-token family: one live refresh token at a time (stored only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Random id, carried in the refresh token's `fid` claim.
    pub family_id: String,
    /// The grant behind it.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// Scopes the family may grant (a refresh may narrow them).
    pub scopes: Vec<String>,
    /// SHA-256 of the one refresh token that may be used next.
    pub current_hash: String,
    /// Family expiry (Unix seconds): the sooner of `max_expires_at` and the upstream refresh
    /// token's expiry, so the proxy's refresh token never outlives the upstream one.
    pub expires_at: i64,
    /// SHA-256 of the refresh token rotated out last: within the grace window after
    /// `rotated_at_ms` it may be presented once more (a client retrying a lost response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_hash: Option<String>,
    /// When `previous_hash` was rotated out (Unix milliseconds; 0 = never rotated).
    #[serde(default)]
    pub rotated_at_ms: i64,
    /// When the family was last swapped, by a rotation or a grace-window successor (Unix
    /// microseconds; 0 = never). A request that arrived before it and presents a token the
    /// swap retired raced the swap; one that arrived after it replays the token.
    #[serde(default)]
    pub swapped_at_us: i64,
    /// The family's lifetime cap (Unix seconds): `refresh_token_ttl` after the code exchange
    /// (0 in records written before the field existed: `expires_at` is the cap then).
    #[serde(default)]
    pub max_expires_at: i64,
    /// Expiry of the newest access token issued in the family (Unix seconds). The grant
    /// behind the family is kept until the later of this and `expires_at`.
    #[serde(default)]
    pub access_until: i64,
}

/// The typed view of a [`Store`]: JSON values, explicit TTLs on every write.
#[derive(Clone)]
pub struct Records {
    store: Arc<dyn Store>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(
    c: Collection,
    bytes: Option<Vec<u8>>,
) -> Result<Option<T>, StoreError> {
    match bytes {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", c.name()))),
    }
}

/// A record as it was read, with the bytes it was read from: a compare-and-swap over it
/// ([`Records::swap_grant`]) needs no second read.
#[derive(Clone, Debug)]
pub struct Read<T> {
    value: T,
    raw: Vec<u8>,
}

impl<T> Read<T> {
    /// The record.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Read<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// What [`Store::get_decoded`] is given for records of type `T` in `c`.
fn decoder<T: DeserializeOwned + Send + Sync + 'static>(
    c: Collection,
) -> impl Fn(&[u8]) -> Result<Decoded, StoreError> + Send + Sync {
    move |bytes| {
        serde_json::from_slice::<T>(bytes)
            .map(|v| Arc::new(v) as Decoded)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", c.name())))
    }
}

macro_rules! record_ops {
    (@write $ty:ty, $col:expr, $put:ident, $take:ident, $del:ident) => {
        #[doc = concat!("Store a [`", stringify!($ty), "`] for `ttl`.")]
        pub async fn $put(&self, key: &str, v: &$ty, ttl: Duration) -> Result<(), StoreError> {
            self.store.put($col, key, encode(v), ttl).await
        }
        #[doc = concat!("Remove and return a [`", stringify!($ty), "`] (single use).")]
        pub async fn $take(&self, key: &str) -> Result<Option<$ty>, StoreError> {
            decode($col, self.store.take($col, key).await?)
        }
        #[doc = concat!("Delete a [`", stringify!($ty), "`].")]
        pub async fn $del(&self, key: &str) -> Result<bool, StoreError> {
            self.store.delete($col, key).await
        }
    };
    ($ty:ty, $col:expr, $put:ident, $get:ident, $take:ident, $del:ident) => {
        record_ops!(@write $ty, $col, $put, $take, $del);
        #[doc = concat!("Read a [`", stringify!($ty), "`].")]
        pub async fn $get(&self, key: &str) -> Result<Option<$ty>, StoreError> {
            decode($col, self.store.get($col, key).await?)
        }
    };
    // Records read often: decoded once by the store (see [`Store::get_decoded`]).
    ($ty:ty, $col:expr, $put:ident, $get:ident, $take:ident, $del:ident, shared: $shared:ident) => {
        record_ops!(@write $ty, $col, $put, $take, $del);
        #[doc = concat!("Read a [`", stringify!($ty), "`].")]
        pub async fn $get(&self, key: &str) -> Result<Option<$ty>, StoreError> {
            Ok(self.$shared(key).await?.map(|v| v.as_ref().clone()))
        }
        #[doc = concat!("Read a [`", stringify!($ty), "`] without copying it: the store may answer the form it decoded before (the guard reads these on every request).")]
        pub async fn $shared(&self, key: &str) -> Result<Option<Arc<$ty>>, StoreError> {
            self.get_shared::<$ty>($col, key).await
        }
    };
}

impl Records {
    /// Wrap a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    record_ops!(
        ClientRecord,
        Collection::Clients,
        put_client,
        get_client,
        take_client,
        delete_client,
        shared: client_shared
    );
    record_ops!(
        Transaction,
        Collection::Transactions,
        put_transaction,
        get_transaction,
        take_transaction,
        delete_transaction
    );
    record_ops!(
        CsrfRecord,
        Collection::ConsentCsrf,
        put_csrf,
        get_csrf,
        take_csrf,
        delete_csrf
    );
    record_ops!(
        ConsentRecord,
        Collection::Consents,
        put_consent,
        get_consent,
        take_consent,
        delete_consent
    );
    record_ops!(
        UpstreamState,
        Collection::UpstreamStates,
        put_upstream_state,
        get_upstream_state,
        take_upstream_state,
        delete_upstream_state
    );
    record_ops!(
        CodeRecord,
        Collection::Codes,
        put_code,
        get_code,
        take_code,
        delete_code
    );
    record_ops!(
        UsedCode,
        Collection::UsedCodes,
        put_used_code,
        get_used_code,
        take_used_code,
        delete_used_code
    );
    record_ops!(
        Grant,
        Collection::Grants,
        put_grant,
        get_grant,
        take_grant,
        delete_grant,
        shared: grant_shared
    );
    record_ops!(
        TokenMapping,
        Collection::TokenMappings,
        put_token,
        get_token,
        take_token,
        delete_token,
        shared: token_shared
    );
    record_ops!(
        RefreshFamily,
        Collection::RefreshFamilies,
        put_family,
        get_family,
        take_family,
        delete_family,
        shared: family_shared
    );

    /// A record decoded by the store (once, for stores that keep the decoded form).
    async fn get_shared<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        c: Collection,
        key: &str,
    ) -> Result<Option<Arc<T>>, StoreError> {
        if let Some(ready) = self.store.decoded_ready(c, key)
            && let Ok(v) = ready.downcast::<T>()
        {
            return Ok(Some(v));
        }
        let decoding = decoder::<T>(c);
        match self.store.get_decoded(c, key, &decoding).await? {
            None => Ok(None),
            Some(d) => match d.downcast::<T>() {
                Ok(v) => Ok(Some(v)),
                // Decoded as another type by another caller: decode this read on its own.
                Err(_) => decode(c, self.store.get(c, key).await?).map(|v| v.map(Arc::new)),
            },
        }
    }

    /// Store a new provisional registration as one of at most `cap.limit`: when full, the
    /// oldest provisional registration is evicted (a durable one, written by a plain
    /// [`Records::put_client`], is never a candidate). Answers how many were evicted.
    pub async fn put_provisional_client(
        &self,
        v: &ClientRecord,
        ttl: Duration,
        cap: Cap<'_>,
    ) -> Result<u64, StoreError> {
        self.store
            .put_capped(Collection::Clients, &v.client_id, encode(v), ttl, cap)
            .await
    }

    /// Store a new pending transaction as one of at most `cap.limit`: when full, the oldest
    /// is evicted with its consent CSRF record (`csrf_key`). Answers how many were evicted.
    pub async fn put_pending_transaction(
        &self,
        v: &Transaction,
        ttl: Duration,
        cap: Cap<'_>,
        csrf_key: &str,
    ) -> Result<u64, StoreError> {
        let cap = cap.with_companion(Collection::ConsentCsrf, csrf_key);
        self.store
            .put_capped(Collection::Transactions, &v.txn_id, encode(v), ttl, cap)
            .await
    }

    /// Store an approved flow waiting for the upstream login as one of at most `cap.limit`
    /// (the oldest is evicted when full). Answers how many were evicted.
    pub async fn put_upstream_state_capped(
        &self,
        key: &str,
        v: &UpstreamState,
        ttl: Duration,
        cap: Cap<'_>,
    ) -> Result<u64, StoreError> {
        self.store
            .put_capped(Collection::UpstreamStates, key, encode(v), ttl, cap)
            .await
    }

    /// Store a CSRF record as one of at most `cap.limit` capped ones (a used form's
    /// tombstone; the oldest is evicted when full). Answers how many were evicted.
    pub async fn put_csrf_capped(
        &self,
        key: &str,
        v: &CsrfRecord,
        ttl: Duration,
        cap: Cap<'_>,
    ) -> Result<u64, StoreError> {
        self.store
            .put_capped(Collection::ConsentCsrf, key, encode(v), ttl, cap)
            .await
    }

    /// Store a new code only if no code with this hash exists.
    pub async fn put_code_if_absent(
        &self,
        key: &str,
        v: &CodeRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.store
            .put_if_absent(Collection::Codes, key, encode(v), ttl)
            .await
    }

    /// Read a CSRF record for a later [`Records::take_csrf_read`].
    pub async fn read_csrf(&self, key: &str) -> Result<Option<Read<CsrfRecord>>, StoreError> {
        self.read(Collection::ConsentCsrf, key).await
    }

    /// Remove the CSRF record under `key` only if it is still what `read` read (a page shown
    /// again since, or a concurrent submission, leaves it alone); `true` when it was removed.
    pub async fn take_csrf_read(
        &self,
        key: &str,
        read: &Read<CsrfRecord>,
    ) -> Result<bool, StoreError> {
        self.store
            .delete_if(Collection::ConsentCsrf, key, &read.raw)
            .await
    }

    /// Replace a refresh family `old` (as decoded) with `new` only if it is still current.
    pub async fn swap_family(
        &self,
        old: &RefreshFamily,
        new: &RefreshFamily,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.swap(Collection::RefreshFamilies, &old.family_id, old, new, ttl)
            .await
    }

    /// Replace the record under `key` with `new` only if it still decodes to `old`.
    ///
    /// The comparison is on decoded records, then the swap is on the exact bytes read: a
    /// record written by an older version (a field missing, so re-encoding it would not give
    /// the stored bytes back) still swaps, and a concurrent change still makes it fail.
    async fn swap<T: Serialize + DeserializeOwned + PartialEq>(
        &self,
        c: Collection,
        key: &str,
        old: &T,
        new: &T,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let Some(stored) = self.store.get(c, key).await? else {
            return Ok(false);
        };
        if decode::<T>(c, Some(stored.clone()))?.as_ref() != Some(old) {
            return Ok(false);
        }
        self.store
            .compare_and_swap(c, key, &stored, encode(new), ttl)
            .await
    }

    /// Take the lock `name` for `owner` unless someone holds it; it expires after `ttl`
    /// (a holder that dies cannot block the others for longer).
    pub async fn try_lock(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.store
            .put_if_absent(Collection::Locks, name, owner.as_bytes().to_vec(), ttl)
            .await
    }

    /// Release the lock `name` if `owner` still holds it (a lock that expired and was taken
    /// by someone else is left alone).
    pub async fn unlock(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        // One atomic step: a lock that expired and was taken by another owner stays theirs.
        self.store
            .delete_if(Collection::Locks, name, owner.as_bytes())
            .await?;
        Ok(())
    }

    /// Read a record with the bytes it was read from, for a later swap over it.
    async fn read<T: DeserializeOwned>(
        &self,
        c: Collection,
        key: &str,
    ) -> Result<Option<Read<T>>, StoreError> {
        let Some(raw) = self.store.get(c, key).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&raw)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", c.name())))?;
        Ok(Some(Read { value, raw }))
    }

    /// Replace the record under `key` with `new` only if it is still what `old` read: one
    /// compare-and-swap on the bytes read, no second read.
    async fn swap_read<T: Serialize>(
        &self,
        c: Collection,
        key: &str,
        old: &Read<T>,
        new: &T,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.store
            .compare_and_swap(c, key, &old.raw, encode(new), ttl)
            .await
    }

    /// Read a grant for a later [`Records::swap_grant`].
    pub async fn read_grant(&self, id: &str) -> Result<Option<Read<Grant>>, StoreError> {
        self.read(Collection::Grants, id).await
    }

    /// Replace a grant only if it is unchanged since it was read (`old`).
    pub async fn swap_grant(
        &self,
        old: &Read<Grant>,
        new: &Grant,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.swap_read(Collection::Grants, &old.grant_id, old, new, ttl)
            .await
    }

    /// Read a refresh family for a later [`Records::rotate_family`].
    pub async fn read_family(&self, id: &str) -> Result<Option<Read<RefreshFamily>>, StoreError> {
        self.read(Collection::RefreshFamilies, id).await
    }

    /// Rotate a refresh family: replace it with `new` only if it is unchanged since it was
    /// read (`old`).
    pub async fn rotate_family(
        &self,
        old: &Read<RefreshFamily>,
        new: &RefreshFamily,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.swap_read(Collection::RefreshFamilies, &old.family_id, old, new, ttl)
            .await
    }
}
