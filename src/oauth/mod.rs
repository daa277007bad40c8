//! Shared OAuth building blocks: PKCE, client authentication, RFC 6749 errors.
