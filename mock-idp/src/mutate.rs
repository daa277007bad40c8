//! Token mutations and token-response overrides applied by faults.

use crate::faults::{Mutation, TokenResponseOverride};
use crate::ids::{b64url, b64url_decode};
use crate::state::Idp;
use serde_json::{Value, json};

/// Damage a JWT the way `m` says. Opaque tokens come back unchanged.
pub fn mutate_jwt(idp: &Idp, token: &str, m: Mutation) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return token.to_string();
    }
    let decode = |s: &str| b64url_decode(s).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let (Some(header), Some(mut claims)) = (decode(parts[0]), decode(parts[1])) else {
        return token.to_string();
    };
    let typ = header
        .get("typ")
        .and_then(|v| v.as_str())
        .unwrap_or("JWT")
        .to_string();
    let key = idp.signing_key();
    let resign = |claims: &Value, kid: Option<&str>| {
        key.sign(&typ, claims, kid)
            .unwrap_or_else(|_| token.to_string())
    };
    let now = idp.clock.now_unix();
    match m {
        Mutation::WrongIss => {
            claims["iss"] = json!("https://wrong-issuer.invalid/");
            resign(&claims, None)
        }
        Mutation::WrongAud => {
            claims["aud"] = json!("https://wrong-audience.invalid");
            resign(&claims, None)
        }
        Mutation::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
            resign(&claims, None)
        }
        Mutation::AlgNone => {
            let h = json!({ "alg": "none", "typ": typ });
            format!("{}.{}.", b64url(h.to_string().as_bytes()), parts[1])
        }
        Mutation::UnknownKid => {
            let kid = format!("unknown-{}", &crate::ids::random_token()[..12]);
            resign(&claims, Some(&kid))
        }
        Mutation::BadSignature => {
            let mut sig = b64url_decode(parts[2]).unwrap_or_default();
            if let Some(b) = sig.first_mut() {
                *b ^= 0x5a;
            } else {
                sig.push(0);
            }
            format!("{}.{}.{}", parts[0], parts[1], b64url(&sig))
        }
    }
}

/// Which tokens of a response a mutation hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// access_token and id_token.
    Both,
    /// access_token only.
    Access,
    /// id_token only.
    Id,
}

/// Apply a mutation to the tokens in a token-response object.
pub fn mutate_response(
    idp: &Idp,
    body: &mut serde_json::Map<String, Value>,
    m: Mutation,
    t: Target,
) {
    let fields: &[&str] = match t {
        Target::Both => &["access_token", "id_token"],
        Target::Access => &["access_token"],
        Target::Id => &["id_token"],
    };
    for f in fields {
        if let Some(Value::String(tok)) = body.get(*f) {
            let new = mutate_jwt(idp, tok, m);
            body.insert((*f).to_string(), Value::String(new));
        }
    }
}

/// Apply `omit` and `set` to a token-response object.
pub fn override_response(body: &mut serde_json::Map<String, Value>, o: &TokenResponseOverride) {
    for k in &o.omit {
        body.remove(k);
    }
    for (k, v) in &o.set {
        body.insert(k.clone(), v.clone());
    }
}
