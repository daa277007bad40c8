//! Unit tests: one or more per rule, plus the known bypasses.

use super::pattern::glob_for_tests as glob;
use super::*;
use url::{Host, Url};

fn pat(s: &str) -> RedirectPattern {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn allow(patterns: &[&str]) -> AllowList {
    let list: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
    AllowList::from_config(Some(&list)).unwrap()
}

fn code(uri: &str) -> &'static str {
    match check_safe(uri) {
        Ok(_) => "ok",
        Err(r) => r.code(),
    }
}

fn m(pattern: &str, uri: &str) -> bool {
    pattern_matches(&pat(pattern), uri)
}

fn pattern_err(s: &str) -> String {
    match s.parse::<RedirectPattern>() {
        Ok(p) => panic!("{s} parsed as {p:?}"),
        Err(e) => e.to_string(),
    }
}

// ---- check_safe -------------------------------------------------------------------------

#[test]
fn safe_uris_pass() {
    for uri in [
        "https://app.example.com/callback",
        "http://localhost:3000/cb",
        "http://127.0.0.1:8080/auth/callback?x=1",
        "http://[::1]:1234/cb",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "vscode://vscode.github-authentication/did-authenticate",
        "com.example.app:/oauth2redirect",
        "urn:ietf:wg:oauth:2.0:oob",
        "https://example.com/v1.2/cb",
        "https://example.com/...",
        "https://example.com/.well-known/cb",
    ] {
        assert_eq!(code(uri), "ok", "{uri}");
    }
}

#[test]
fn unparseable() {
    for uri in [
        "",
        "not a url",
        "/relative/cb",
        "http://",
        "http://exa mple.com",
    ] {
        assert_ne!(code(uri), "ok", "{uri}");
    }
    assert_eq!(code("/relative/cb"), "unparseable");
    assert_eq!(code("http://[::1/cb"), "unparseable");
    assert_eq!(code("http://localhost:99999/"), "unparseable");
}

#[test]
fn unsafe_schemes_any_case() {
    for uri in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "JAVASCRIPT://localhost/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DaTa:text/plain,hi",
        "file:///etc/passwd",
        "FILE://localhost/etc/passwd",
        "vbscript:msgbox(1)",
        "VBScript:msgbox(1)",
        "blob:https://example.com/uuid",
        "BLOB:https://example.com/uuid",
    ] {
        assert_eq!(code(uri), "unsafe_scheme", "{uri}");
    }
    let r = check_safe("JavaScript:alert(1)").unwrap_err();
    assert!(r.to_string().contains("javascript:"), "{r}");
}

#[test]
fn userinfo_is_rejected() {
    for uri in [
        "http://localhost@evil.com/cb",
        "http://localhost:1@evil.com/cb",
        "http://user:pass@localhost:3000/cb",
        "https://@evil.com/cb",
        "https://:@evil.com/cb",
        "cursor://user@host/cb",
    ] {
        assert_eq!(code(uri), "userinfo", "{uri}");
    }
    let r = check_safe("http://localhost@evil.com/cb").unwrap_err();
    let text = r.to_string();
    assert!(
        text.contains("userinfo") && text.contains("localhost@"),
        "{text}"
    );
    assert!(
        text.contains("evil.com") && text.contains("not allowed"),
        "{text}"
    );
    // A password is never echoed.
    let r = check_safe("http://alice:hunter2@localhost/cb").unwrap_err();
    assert!(!r.to_string().contains("hunter2"), "{r}");
    // `@` after the authority is just a path or query character.
    assert_eq!(code("https://example.com/cb@evil.com"), "ok");
    assert_eq!(code("https://example.com/cb?x=a@b"), "ok");
}

#[test]
fn fragments_are_rejected_even_empty() {
    assert_eq!(code("https://example.com/cb#frag"), "fragment");
    assert_eq!(code("https://example.com/cb#"), "fragment");
    assert_eq!(code("https://example.com/cb?x=1#"), "fragment");
    assert_eq!(code("com.example.app:/cb#x"), "fragment");
    let r = check_safe("https://example.com/cb#frag").unwrap_err();
    assert!(r.to_string().contains("#frag"), "{r}");
}

#[test]
fn dot_segments_raw_and_encoded() {
    for uri in [
        "https://app.example.com/../evil",
        "https://app.example.com/cb/..",
        "https://app.example.com/./cb",
        "https://app.example.com/a/./b",
        "https://app.example.com/%2e%2e/evil",
        "https://app.example.com/%2E%2e/evil",
        "https://app.example.com/.%2e/evil",
        "https://app.example.com/%2e./evil",
        "https://app.example.com/%2e/cb",
        "https://app.example.com/%252e%252e/evil",
        "https://app.example.com/cb%2F..%2Fevil",
        "https://app.example.com/a\\..\\evil",
        "http://localhost:3000/cb/..",
        "com.example.app:/a/../b",
        "com.example.app:a/../b",
        "cursor://host/%2e%2e/x",
    ] {
        assert_eq!(code(uri), "dot_segment", "{uri}");
    }
    // url::Url would have normalised these away silently.
    assert_eq!(
        Url::parse("https://app.example.com/../evil")
            .unwrap()
            .as_str(),
        "https://app.example.com/evil"
    );
    // Dots inside names are fine, and so are dots in the query.
    assert_eq!(code("https://app.example.com/v1.2/cb"), "ok");
    assert_eq!(code("https://app.example.com/..cb"), "ok");
    assert_eq!(code("https://app.example.com/cb?next=../x"), "ok");
    let r = check_safe("https://app.example.com/%2E%2e/evil").unwrap_err();
    assert!(r.to_string().contains("%2E%2e"), "{r}");
}

#[test]
fn control_characters_and_whitespace() {
    for uri in [
        " https://example.com/cb",
        "https://example.com/cb ",
        "https://example.com/c b",
        "https://exa\tmple.com/cb",
        "https://example.com/cb\n",
        "https://example.com/\rcb",
        "https://example.com/\u{0}cb",
        "https://example.com/\u{7f}cb",
        "https://example.com/\u{85}cb",
        "https://example.com/\u{a0}cb",
        "https://example.com/\u{3000}cb",
        "java\nscript:alert(1)",
    ] {
        assert_eq!(code(uri), "control_or_whitespace", "{uri:?}");
    }
    let r = check_safe("https://example.com/cb\n").unwrap_err();
    let text = r.to_string();
    assert!(text.contains("line feed") && !text.contains('\n'), "{text}");
}

// ---- patterns ---------------------------------------------------------------------------

#[test]
fn pattern_parsing_accepts_the_documented_forms() {
    for p in [
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://localhost",
        "http://localhost/callback",
        "https://*.example.com",
        "https://*.example.com/callback",
        "https://app.example.com/oauth/*",
        "https://app.example.com/*/cb",
        "HTTPS://App.Example.COM:8443/cb",
        "http://[::1]:*",
        "http://*.localhost:*",
        "cursor://anysphere.cursor-retrieval/*",
        "com.example.app:/oauth2redirect",
        "https://bücher.example/cb",
    ] {
        let parsed = pat(p);
        assert_eq!(parsed.to_string(), p);
        assert_eq!(parsed.as_str(), p);
    }
}

#[test]
fn invalid_patterns_have_clear_messages() {
    let cases = [
        ("", "empty"),
        ("*://example.com", "scheme"),
        ("ht*p://example.com", "scheme"),
        ("https://ex*ample.com", "leftmost host label"),
        ("https://a.*.example.com", "leftmost host label"),
        ("https://*example.com", "leftmost host label"),
        ("https://*", "leftmost host label"),
        ("https://*.*.example.com", "leftmost host label"),
        ("https://*.com", "two labels"),
        ("https://*.127.0.0.1", "IP address"),
        ("https://user@example.com", "userinfo"),
        ("https://user:pw@example.com", "userinfo"),
        ("https://example.com/cb#frag", "fragment"),
        ("https://example.com/cb#", "fragment"),
        ("https://example.com/cb?x=1", "query"),
        ("https://example.com:8*", "whole port"),
        ("https://example.com:", "port is empty"),
        ("https://example.com:99999", "port number"),
        ("https://example.com:abc", "port number"),
        ("https://example.com/a/../b", "segments"),
        ("https://example.com/%2e%2e/b", "segments"),
        ("javascript://example.com", "never allowed"),
        ("DATA:text/html,x", "never allowed"),
        ("example.com/cb", "no scheme"),
        ("localhost:3000", "host:port"),
        ("localhost:*", "host:port"),
        ("1app:/cb", "not a valid URL scheme"),
        ("localhost", "no scheme"),
        ("https:example.com", "needs `//`"),
        ("https://", "host is missing"),
        ("https://exa mple.com", "whitespace"),
        ("https://example.com\\cb", "backslash"),
        ("http://[::1", "closing"),
    ];
    for (p, needle) in cases {
        let msg = pattern_err(p);
        assert!(msg.contains(needle), "{p:?}: {msg}");
        assert!(msg.starts_with("invalid redirect pattern"), "{msg}");
    }
}

#[test]
fn glob_semantics() {
    assert!(glob("/a/*", "/a/b/c"));
    assert!(glob("/a/*/c", "/a/b/x/c"));
    assert!(glob("/*", "/"));
    assert!(glob("*", ""));
    assert!(glob("/a*b*c", "/aXbYbZc"));
    assert!(!glob("/a/*/c", "/a/b/c/d"));
    assert!(!glob("/cb", "/cb/"));
    assert!(!glob("/cb", "/CB"));
    assert!(!glob("/a*", "/b"));
}

// ---- matching -----------------------------------------------------------------------------

#[test]
fn known_bypasses_do_not_match() {
    // userinfo smuggling the pattern host
    assert!(!m("http://localhost:*", "http://localhost:1@evil.com/cb"));
    assert!(!m(
        "http://localhost:*/cb",
        "http://localhost:1@evil.com/cb"
    ));
    assert!(!m("http://localhost:*", "http://localhost@evil.com/cb"));
    // the pattern host inside the path
    assert!(!m(
        "https://*.example.com/cb",
        "https://evil.com/x.example.com/cb"
    ));
    assert!(!m(
        "https://*.example.com",
        "https://evil.com/x.example.com/cb"
    ));
    // dot segments through a path wildcard
    assert!(!m(
        "https://app.example.com/*",
        "https://app.example.com/../evil"
    ));
    assert!(!m(
        "https://app.example.com/cb/*",
        "https://app.example.com/cb/%2e%2e/evil"
    ));
    // look-alike hosts
    assert!(!m(
        "http://localhost:*",
        "http://localhost.evil.com:3000/cb"
    ));
    assert!(!m("http://localhost:*", "http://notlocalhost:3000/cb"));
    assert!(!m("https://*.example.com", "https://example.com.evil.com/"));
    assert!(!m("https://*.example.com", "https://evilexample.com/"));
}

#[test]
fn scheme_and_host_case_insensitive() {
    assert!(m("https://example.com", "HTTPS://EXAMPLE.com"));
    assert!(m("HTTPS://EXAMPLE.COM/cb", "https://example.com/cb"));
    assert!(m("https://*.Example.com/cb", "https://APP.example.COM/cb"));
    assert!(!m("https://example.com", "http://example.com/"));
    assert!(!m("http://localhost:*", "https://localhost:3000/"));
    // paths are case-sensitive
    assert!(!m("https://example.com/cb", "https://example.com/CB"));
}

#[test]
fn trailing_dot_is_ignored_once() {
    assert!(m("https://example.com/cb", "https://example.com./cb"));
    assert!(m("https://example.com./cb", "https://example.com/cb"));
    assert!(m("https://*.example.com./cb", "https://a.example.com/cb"));
    assert!(m("https://*.example.com/cb", "https://a.example.com./cb"));
    assert!(!m("https://example.com/cb", "https://example.com../cb"));
}

#[test]
fn idn_hosts_are_normalised() {
    assert!(m(
        "https://bücher.example/cb",
        "https://xn--bcher-kva.example/cb"
    ));
    assert!(m(
        "https://xn--bcher-kva.example/cb",
        "https://BÜCHER.example/cb"
    ));
    assert!(m(
        "https://*.bücher.example",
        "https://shop.xn--bcher-kva.example/"
    ));
    assert!(!m("https://bücher.example/cb", "https://bucher.example/cb"));
}

#[test]
fn host_wildcard_is_exactly_one_label() {
    let p = "https://*.example.com/callback";
    assert!(m(p, "https://app.example.com/callback"));
    assert!(m(p, "https://app.example.com:443/callback"));
    assert!(!m(p, "https://example.com/callback"), "never the apex");
    assert!(!m(p, "https://a.b.example.com/callback"), "one label only");
    assert!(!m(p, "https://app.example.org/callback"));
    assert!(!m(p, "https://app.example.com/other"));
    assert!(!m(p, "https://app.example.com:8443/callback"));
}

#[test]
fn ports_default_and_wildcard() {
    assert!(m("https://example.com/cb", "https://example.com:443/cb"));
    assert!(m("https://example.com:443/cb", "https://example.com/cb"));
    assert!(m("http://example.com/cb", "http://example.com:80/cb"));
    assert!(!m("https://example.com/cb", "https://example.com:444/cb"));
    assert!(!m("http://example.com:8080/cb", "http://example.com/cb"));
    assert!(m("http://example.com:*/cb", "http://example.com:8080/cb"));
    assert!(m("http://example.com:*/cb", "http://example.com/cb"));
    assert!(m("cursor://host:*/cb", "cursor://host:9/cb"));
    assert!(!m("cursor://host/cb", "cursor://host:9/cb"));
}

#[test]
fn loopback_patterns_without_port_match_any_port() {
    // RFC 8252 §7.3
    assert!(m(
        "http://localhost/callback",
        "http://localhost:51234/callback"
    ));
    assert!(m("http://localhost/callback", "http://localhost/callback"));
    assert!(m("http://127.0.0.1", "http://127.0.0.1:9/anything"));
    assert!(m("http://[::1]/cb", "http://[::1]:8080/cb"));
    assert!(m("http://*.localhost", "http://app.localhost:3000/"));
    assert!(!m(
        "http://localhost/callback",
        "http://localhost:51234/other"
    ));
    // ... but a loopback pattern with a port pins it.
    assert!(!m("http://localhost:3000/cb", "http://localhost:3001/cb"));
    assert!(m("http://localhost:3000/cb", "http://localhost:3000/cb"));
}

#[test]
fn localhost_and_127_are_different_hosts() {
    assert!(!m("http://127.0.0.1:*", "http://localhost:8080"));
    assert!(!m("http://localhost:*", "http://127.0.0.1:8080"));
    assert!(!m("http://localhost:*", "http://[::1]:8080"));
    assert!(m("http://127.0.0.1:*", "http://127.0.0.1:8080"));
    // ... while url's own IPv4 normalisation still applies
    assert!(m("http://127.0.0.1:*", "http://127.1:8080/"));
    assert!(m("http://127.0.0.1:*", "http://0x7f000001:8080/"));
}

#[test]
fn ipv6_loopback() {
    assert!(m("http://[::1]:*", "http://[::1]:8080/cb"));
    assert!(m("http://[::1]:*", "http://[0:0:0:0:0:0:0:1]:8080/cb"));
    assert!(!m("http://[::1]:*", "http://[::2]:8080/cb"));
    assert!(pat("http://[::1]").is_loopback());
}

#[test]
fn pattern_paths() {
    assert!(m("http://localhost:*", "http://localhost:3000/any/path"));
    assert!(m("http://localhost:*/", "http://localhost:3000/any/path"));
    assert!(m(
        "https://app.example.com/oauth/*",
        "https://app.example.com/oauth/cb/x"
    ));
    assert!(!m(
        "https://app.example.com/oauth/*",
        "https://app.example.com/oauthX"
    ));
    assert!(m(
        "https://app.example.com/*/cb",
        "https://app.example.com/a/b/cb"
    ));
    assert!(!m(
        "https://app.example.com/cb",
        "https://app.example.com/cb/"
    ));
    assert!(m(
        "https://app.example.com/caf%C3%A9",
        "https://app.example.com/café"
    ));
}

#[test]
fn query_is_ignored() {
    assert!(m(
        "https://app.example.com/cb",
        "https://app.example.com/cb?x=1&y=2"
    ));
    assert!(m(
        "http://localhost:*",
        "http://localhost:1/?redirect=https://evil.com"
    ));
}

#[test]
fn private_use_schemes() {
    assert!(m(
        "cursor://anysphere.cursor-retrieval/*",
        "cursor://anysphere.cursor-retrieval/oauth/callback"
    ));
    assert!(m(
        "CURSOR://Anysphere.Cursor-Retrieval/*",
        "cursor://anysphere.cursor-retrieval/x"
    ));
    assert!(m(
        "com.example.app:/oauth2redirect",
        "com.example.app:/oauth2redirect"
    ));
    assert!(!m(
        "com.example.app:/oauth2redirect",
        "com.example.app:/other"
    ));
    assert!(!m("com.example.app:/cb", "com.example.app://host/cb"));
    assert!(!m("cursor://host/cb", "cursor:/cb"));
}

#[test]
fn permits_rechecks_url_level_safety() {
    let absent = AllowList::Absent;
    assert!(absent.permits(&Url::parse("https://example.com/cb").unwrap()));
    assert!(!absent.permits(&Url::parse("https://u@example.com/cb").unwrap()));
    assert!(!absent.permits(&Url::parse("https://example.com/cb#").unwrap()));
    assert!(!absent.permits(&Url::parse("javascript:alert(1)").unwrap()));
    let list = allow(&["https://*.example.com"]);
    assert!(list.permits(&Url::parse("https://a.example.com/cb").unwrap()));
    assert!(!list.permits(&Url::parse("https://u@a.example.com/cb").unwrap()));
}

// ---- allow-list and registration ---------------------------------------------------------

#[test]
fn from_config() {
    assert_eq!(AllowList::from_config(None).unwrap(), AllowList::Absent);
    assert_eq!(
        AllowList::from_config(Some(&[])).unwrap(),
        AllowList::DenyAll
    );
    let bad = vec!["http://localhost:*".to_owned(), "https://a.*.b".to_owned()];
    let err = AllowList::from_config(Some(&bad)).unwrap_err();
    assert_eq!(err.pattern, "https://a.*.b");
}

#[test]
fn registration_allow_list_modes() {
    let uri = "https://app.example.com/cb";
    assert!(check_registration_any_app(uri, &AllowList::Absent).is_ok());
    assert_eq!(
        check_registration_any_app(uri, &AllowList::DenyAll)
            .unwrap_err()
            .code(),
        "deny_all"
    );
    assert_eq!(
        check_registration_any_app(uri, &AllowList::Patterns(vec![]))
            .unwrap_err()
            .code(),
        "deny_all"
    );
    assert!(check_registration_any_app(uri, &allow(&["https://*.example.com"])).is_ok());
    let r = check_registration_any_app(uri, &allow(&["http://localhost:*", "https://other.com"]))
        .unwrap_err();
    assert_eq!(r.code(), "not_allowed");
    let text = r.to_string();
    assert!(
        text.contains("http://localhost:*") && text.contains("scheme"),
        "{text}"
    );
    assert!(
        text.contains("https://other.com") && text.contains("host"),
        "{text}"
    );
    // Absent still rejects unsafe URIs.
    assert_eq!(
        check_registration_any_app("http://localhost@evil.com/cb", &AllowList::Absent)
            .unwrap_err()
            .code(),
        "userinfo"
    );
    // Unsafe beats the allow-list, and DenyAll.
    assert_eq!(
        check_registration_any_app("javascript:alert(1)", &AllowList::DenyAll)
            .unwrap_err()
            .code(),
        "unsafe_scheme"
    );
}

#[test]
fn the_cli_acceptance_case() {
    let r = check_registration_any_app(
        "http://localhost@evil.com/cb",
        &allow(&["http://localhost:*"]),
    )
    .unwrap_err();
    assert_eq!(r.code(), "userinfo");
    assert!(r.to_string().contains("userinfo"));
}

#[test]
fn application_type_native() {
    let native = ApplicationType::Native;
    assert_eq!(ApplicationType::default(), native);
    for ok in [
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "http://127.5.6.7:9/cb",
        "http://[::1]:8080/cb",
        "http://app.localhost/cb",
        "https://app.example.com/cb",
        "https://localhost/cb",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "vscode://vscode.github-authentication/did-authenticate",
        "com.example.app:/oauth2redirect",
    ] {
        assert!(
            check_registration(ok, &AllowList::Absent, native).is_ok(),
            "{ok}"
        );
    }
    for bad in [
        "http://example.com/cb",
        "http://localhost.evil.com/cb",
        "http://10.0.0.1/cb",
        "ws://localhost/cb",
    ] {
        let r = check_registration(bad, &AllowList::Absent, native).unwrap_err();
        assert_eq!(r.code(), "application_type", "{bad}");
    }
    let r = check_registration("http://example.com/cb", &AllowList::Absent, native).unwrap_err();
    assert!(r.to_string().contains("example.com") && r.to_string().contains("native"));
}

#[test]
fn application_type_web() {
    let web = ApplicationType::Web;
    assert!(check_registration("https://app.example.com/cb", &AllowList::Absent, web).is_ok());
    for bad in [
        "http://app.example.com/cb",
        "http://localhost:3000/cb",
        "https://localhost/cb",
        "https://127.0.0.1/cb",
        "https://[::1]/cb",
        "https://app.localhost/cb",
        "cursor://host/cb",
        "com.example.app:/cb",
    ] {
        let r = check_registration(bad, &AllowList::Absent, web).unwrap_err();
        assert_eq!(r.code(), "application_type", "{bad}");
    }
}

#[test]
fn application_type_serde() {
    let web: ApplicationType = serde_json::from_str("\"web\"").unwrap();
    assert_eq!(web, ApplicationType::Web);
    assert_eq!(
        serde_json::to_string(&ApplicationType::Native).unwrap(),
        "\"native\""
    );
    assert!(serde_json::from_str::<ApplicationType>("\"Web\"").is_err());
    assert_eq!(
        "native".parse::<ApplicationType>(),
        Ok(ApplicationType::Native)
    );
    assert!("desktop".parse::<ApplicationType>().is_err());
}

// ---- authorization -----------------------------------------------------------------------

fn reg(uris: &[&str]) -> Vec<String> {
    uris.iter().map(|s| s.to_string()).collect()
}

#[test]
fn authorization_exact_match() {
    let r = reg(&["https://app.example.com/cb"]);
    assert!(check_authorization("https://app.example.com/cb", &r, &AllowList::Absent).is_ok());
    // URL normalisation: scheme/host case, default port
    assert!(check_authorization("HTTPS://APP.example.com:443/cb", &r, &AllowList::Absent).is_ok());
    for other in [
        "https://app.example.com/cb/",
        "https://app.example.com/cb?x=1",
        "https://app.example.com:8443/cb",
        "https://other.example.com/cb",
        "http://app.example.com/cb",
        "https://app.example.com/CB",
    ] {
        let e = check_authorization(other, &r, &AllowList::Absent).unwrap_err();
        assert_eq!(e.code(), "not_registered", "{other}");
    }
}

#[test]
fn authorization_loopback_port_latitude() {
    let r = reg(&["http://localhost/cb", "http://127.0.0.1:3000/cb"]);
    let a = AllowList::Absent;
    assert!(check_authorization("http://localhost:51234/cb", &r, &a).is_ok());
    assert!(check_authorization("http://localhost/cb", &r, &a).is_ok());
    assert!(check_authorization("http://127.0.0.1:4000/cb", &r, &a).is_ok());
    assert!(check_authorization("http://127.0.0.1/cb", &r, &a).is_ok());
    // only the port
    assert!(check_authorization("http://localhost:1/other", &r, &a).is_err());
    assert!(check_authorization("http://127.0.0.2:3000/cb", &r, &a).is_err());
    assert!(check_authorization("https://localhost:1/cb", &r, &a).is_err());
    assert!(check_authorization("http://[::1]:3000/cb", &r, &a).is_err());
    // no latitude for non-loopback hosts
    let r = reg(&["https://app.example.com/cb"]);
    assert!(check_authorization("https://app.example.com:444/cb", &r, &a).is_err());
}

#[test]
fn authorization_patterns_never_widen() {
    let r = reg(&["http://localhost:3000/cb"]);
    let a = allow(&["http://localhost:*"]);
    assert!(check_authorization("http://localhost:3000/cb", &r, &a).is_ok());
    let e = check_authorization("http://localhost:3000/other", &r, &a).unwrap_err();
    assert_eq!(e.code(), "not_registered");
}

#[test]
fn authorization_rechecks_allow_list() {
    let r = reg(&["http://localhost:3000/cb", "https://app.example.com/cb"]);
    let a = allow(&["https://*.example.com/cb"]);
    assert!(check_authorization("https://app.example.com/cb", &r, &a).is_ok());
    let e = check_authorization("http://localhost:3000/cb", &r, &a).unwrap_err();
    assert_eq!(e.code(), "not_allowed");
    let e = check_authorization("https://app.example.com/cb", &r, &AllowList::DenyAll).unwrap_err();
    assert_eq!(e.code(), "deny_all");
}

#[test]
fn authorization_rejects_unsafe_even_if_registered() {
    let r = reg(&[
        "https://app.example.com/cb#x",
        "https://app.example.com/a/../cb",
    ]);
    let a = AllowList::Absent;
    assert_eq!(
        check_authorization("https://app.example.com/cb#x", &r, &a)
            .unwrap_err()
            .code(),
        "fragment"
    );
    // the registered entry with a dot segment is ignored, not normalised into a match
    assert_eq!(
        check_authorization("https://app.example.com/cb", &r, &a)
            .unwrap_err()
            .code(),
        "not_registered"
    );
}

// ---- loopback ----------------------------------------------------------------------------

#[test]
fn loopback_hosts() {
    let host = |s: &str| Url::parse(&format!("http://{s}/")).unwrap();
    for s in [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "app.localhost",
        "127.0.0.1",
        "127.255.255.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
    ] {
        let u = host(s);
        assert!(is_loopback_host(&u.host().unwrap()), "{s}");
    }
    for s in [
        "localhost.evil.com",
        "notlocalhost",
        "128.0.0.1",
        "10.0.0.1",
        "0.0.0.0",
        "[::2]",
        "example.com",
    ] {
        let u = host(s);
        assert!(!is_loopback_host(&u.host().unwrap()), "{s}");
    }
    assert!(is_loopback_host(&Host::Domain("Foo.LocalHost")));
}

#[test]
fn rejection_codes_are_distinct_and_messages_single_line() {
    let samples = [
        check_safe("https://x/\n").unwrap_err(),
        check_safe("nope").unwrap_err(),
        check_safe("javascript:x").unwrap_err(),
        check_safe("http://a@b/").unwrap_err(),
        check_safe("http://b/#").unwrap_err(),
        check_safe("http://b/%2e").unwrap_err(),
        check_registration_any_app("http://b/", &allow(&["https://c"])).unwrap_err(),
        Rejection::DenyAll,
        check_authorization("http://b/", &[], &AllowList::Absent).unwrap_err(),
        check_registration("http://b/", &AllowList::Absent, ApplicationType::Web).unwrap_err(),
    ];
    let mut codes: Vec<_> = samples.iter().map(|r| r.code()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), samples.len());
    for r in &samples {
        let text = r.to_string();
        assert!(!text.contains('\n') && !text.is_empty(), "{text}");
    }
    assert!(samples[..6].iter().all(Rejection::is_unsafe));
    assert!(!samples[6..].iter().any(Rejection::is_unsafe));
}
