//! Property tests for DESIGN.md's redirect-URI rules (authproof::proxy::redirect).
//! Every property has a positive control where it makes sense, so that a generator that
//! never produces a match cannot make a property pass vacuously.

use authproof::proxy::redirect::{
    AllowList, ApplicationType, RedirectPattern, check_authorization, check_registration,
    check_registration_any_app, check_safe, pattern_matches,
};
use proptest::prelude::*;
use proptest::sample::select;

const CASES: u32 = 192;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

fn pat(s: &str) -> RedirectPattern {
    s.parse()
        .unwrap_or_else(|e| panic!("test pattern {s:?} must parse: {e}"))
}

fn code(uri: &str) -> &'static str {
    match check_safe(uri) {
        Ok(_) => "ok",
        Err(r) => r.code(),
    }
}

/// Change the case of ASCII letters where `mask` says so (the mask repeats).
fn flip_case(s: &str, mask: &[bool]) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask.is_empty() || !mask[i % mask.len()] {
                c
            } else if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

// ---- generators -----------------------------------------------------------------------------

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}"
}

fn domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 1..3),
        select(vec!["com", "org", "net", "io", "dev"]),
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_~-][a-zA-Z0-9._~-]{0,7}".prop_filter("not a dot segment", |s| s != "." && s != "..")
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..4)
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect::<String>())
}

fn query() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9=&%/.:@?-]{0,16}".prop_map(|q| format!("?{q}"))
}

fn loopback_host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("localhost".to_owned()),
        Just("[::1]".to_owned()),
        (0u8..=255, 0u8..=255, 1u8..=254).prop_map(|(a, b, c)| format!("127.{a}.{b}.{c}")),
        label().prop_map(|l| format!("{l}.localhost")),
    ]
}

fn any_host() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => domain(),
        2 => loopback_host(),
        1 => (1u8..=126, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
    ]
}

fn opt_port() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(80)), 1 => Just(Some(443)), 3 => (1u16..=65535).prop_map(Some)]
}

fn port_text(port: Option<u16>) -> String {
    port.map_or(String::new(), |p| format!(":{p}"))
}

/// Safe redirect URIs of many shapes (web, loopback, private-use).
fn safe_uri() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (select(vec!["http", "https"]), any_host(), opt_port(), path())
            .prop_map(|(s, h, p, path)| format!("{s}://{h}{}{path}", port_text(p))),
        1 => (select(vec!["cursor", "vscode"]), domain(), path())
            .prop_map(|(s, h, path)| format!("{s}://{h}{path}")),
        1 => (label(), path()).prop_map(|(l, path)| format!("com.{l}.app:/cb{path}")),
    ]
}

/// Patterns of many shapes, all valid.
fn any_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("http://localhost:*".to_owned()),
        Just("http://127.0.0.1:*".to_owned()),
        Just("http://localhost/callback".to_owned()),
        Just("http://[::1]".to_owned()),
        Just("https://*.example.com".to_owned()),
        Just("https://*.example.com/cb".to_owned()),
        Just("https://app.example.com/*".to_owned()),
        Just("cursor://anysphere.cursor-retrieval/*".to_owned()),
        (
            select(vec!["http", "https"]),
            any_host(),
            opt_port(),
            path()
        )
            .prop_map(|(s, h, p, path)| format!("{s}://{h}{}{path}", port_text(p))),
        (select(vec!["http", "https"]), domain(), path())
            .prop_map(|(s, d, path)| format!("{s}://*.{d}:*{path}/*")),
    ]
}

const UNSAFE: [&str; 5] = ["javascript", "data", "file", "vbscript", "blob"];

fn dot_segment() -> impl Strategy<Value = &'static str> {
    select(vec![
        ".",
        "..",
        "%2e",
        "%2E",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e.",
        "%2E.",
        ".%2E",
        "%2e%2E",
        "%252e",
        "%252e%252e",
    ])
}

/// Loopback per DESIGN.md, written independently of the implementation.
fn oracle_loopback(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    let h = h.strip_suffix('.').unwrap_or(&h);
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "[::1]"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.octets()[0] == 127)
}

// ---- properties -----------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// 1. Userinfo never matches any pattern and is never accepted, whatever the allow-list.
    #[test]
    fn userinfo_never_matches(
        pattern in any_pattern(),
        user in "[a-zA-Z0-9.]{0,8}",
        password in prop::option::of("[a-zA-Z0-9]{0,6}"),
        host in prop_oneof![Just("localhost".to_owned()), Just("app.example.com".to_owned()), any_host()],
        port in opt_port(),
        path in path(),
        scheme in select(vec!["http", "https", "cursor"]),
    ) {
        let userinfo = match password {
            Some(pw) => format!("{user}:{pw}"),
            None => user,
        };
        let uri = format!("{scheme}://{userinfo}@{host}{}{path}", port_text(port));
        prop_assert_eq!(code(&uri), "userinfo", "{}", uri);
        prop_assert!(!pattern_matches(&pat(&pattern), &uri));
        prop_assert!(check_registration_any_app(&uri, &AllowList::Absent).is_err());
        // The classic: the pattern's host smuggled in as userinfo.
        let smuggled = format!("http://localhost{}@{host}{path}", port_text(port));
        prop_assert!(!pattern_matches(&pat("http://localhost:*"), &smuggled), "{}", smuggled);
    }

    /// 2. Unsafe schemes (any case) never pass, even under a pattern naming a lookalike.
    #[test]
    fn unsafe_schemes_never_pass(
        scheme in select(UNSAFE.to_vec()),
        mask in prop::collection::vec(any::<bool>(), 1..10),
        tail in "[a-zA-Z0-9/:(),=_-]{0,20}",
        pattern in any_pattern(),
    ) {
        let uri = format!("{}:{tail}", flip_case(scheme, &mask));
        let c = code(&uri);
        if url::Url::parse(&uri).is_ok() {
            prop_assert_eq!(c, "unsafe_scheme", "{}", uri);
        } else {
            prop_assert_eq!(c, "unparseable", "{}", uri);
        }
        prop_assert!(!pattern_matches(&pat(&pattern), &uri));
        prop_assert!(check_registration_any_app(&uri, &AllowList::Absent).is_err());
        prop_assert!(check_registration(&uri, &AllowList::Absent, ApplicationType::Native).is_err());
        let scheme_pattern = format!("{}://example.com", flip_case(scheme, &mask));
        prop_assert!(scheme_pattern.parse::<RedirectPattern>().is_err());
    }

    /// 3. `*.example.com` matches exactly one label under example.com: never the apex, never
    ///    two labels, never another domain (exact oracle, with random case).
    #[test]
    fn host_wildcard_is_one_label_under_the_domain(
        labels in prop::collection::vec(label(), 0..4),
        base in select(vec!["example.com", "example.org", "evil.com", "myexample.com",
                            "xample.com", "com", "example.com.evil.com", "example.co"]),
        mask in prop::collection::vec(any::<bool>(), 1..12),
        trailing_dot in any::<bool>(),
        path_pattern in select(vec!["", "/cb"]),
    ) {
        let host = if labels.is_empty() { base.to_owned() } else { format!("{}.{base}", labels.join(".")) };
        let host = flip_case(&host, &mask);
        let dot = if trailing_dot { "." } else { "" };
        let uri = format!("https://{host}{dot}/cb");
        let expected = base == "example.com" && labels.len() == 1;
        let pattern = pat(&format!("https://*.example.com{path_pattern}"));
        prop_assert_eq!(pattern_matches(&pattern, &uri), expected, "{}", uri);
        // The suffix hidden in the path never helps.
        let hidden = format!("https://{}/{host}.example.com/cb", base);
        prop_assert!(!pattern_matches(&pattern, &hidden) || base == "example.com", "{}", hidden);
    }

    /// 4. A `.` or `..` segment, raw or percent-encoded, anywhere in the path never passes.
    #[test]
    fn dot_segments_never_pass(
        before in prop::collection::vec(segment(), 0..3),
        dots in dot_segment(),
        after in prop::collection::vec(segment(), 0..3),
        base in prop_oneof![
            Just("https://app.example.com".to_owned()),
            Just("http://localhost:3000".to_owned()),
            Just("cursor://anysphere.cursor-retrieval".to_owned()),
            Just("com.example.app:".to_owned()),
        ],
        q in prop::option::of(query()),
    ) {
        let mut segs = before;
        segs.push(dots.to_owned());
        segs.extend(after);
        let path: String = segs.iter().map(|s| format!("/{s}")).collect();
        let uri = format!("{base}{path}{}", q.unwrap_or_default());
        prop_assert_eq!(code(&uri), "dot_segment", "{}", uri);
        for p in ["https://app.example.com/*", "https://app.example.com", "http://localhost:*",
                  "cursor://anysphere.cursor-retrieval/*", "com.example.app:/*"] {
            prop_assert!(!pattern_matches(&pat(p), &uri), "{} ~ {}", p, uri);
        }
        prop_assert!(check_registration_any_app(&uri, &AllowList::Absent).is_err());
    }

    /// 5. Changing the case of scheme and host (in the URI or the pattern) keeps a match.
    #[test]
    fn case_of_scheme_and_host_keeps_a_match(
        scheme in select(vec!["http", "https", "cursor"]),
        wildcard in any::<bool>(),
        first in label(),
        dom in domain(),
        port in prop_oneof![Just(None), Just(Some("*")), Just(Some("8443"))],
        uri_port in 1u16..=65535,
        segs in prop::collection::vec((segment(), any::<bool>()), 0..4),
        fill in prop::collection::vec("[a-z0-9/]{0,6}", 4),
        m1 in prop::collection::vec(any::<bool>(), 1..8),
        m2 in prop::collection::vec(any::<bool>(), 1..8),
        m3 in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let pattern_host = if wildcard { format!("*.{dom}") } else { dom.clone() };
        let uri_host = if wildcard { format!("{first}.{dom}") } else { dom.clone() };
        // pattern path: segments, some ending in `*`; the URI fills each `*`.
        let pattern_path: String = segs.iter().map(|(s, star)| format!("/{s}{}", if *star { "*" } else { "" })).collect();
        let uri_path: String = segs.iter().enumerate()
            .map(|(i, (s, star))| format!("/{s}{}", if *star { fill[i].as_str() } else { "" }))
            .collect();
        let (pattern_port, uri_port) = match port {
            None => (String::new(), String::new()),
            Some("*") => (":*".to_owned(), format!(":{uri_port}")),
            Some(p) => (format!(":{p}"), format!(":{p}")),
        };
        let pattern = format!("{scheme}://{pattern_host}{pattern_port}{pattern_path}");
        let uri = format!("{scheme}://{uri_host}{uri_port}{uri_path}");
        prop_assert!(pattern_matches(&pat(&pattern), &uri), "control: {} ~ {}", pattern, uri);
        let uri_flipped = format!("{}://{}{uri_port}{uri_path}", flip_case(scheme, &m1), flip_case(&uri_host, &m2));
        let pattern_flipped = format!("{}://{}{pattern_port}{pattern_path}", flip_case(scheme, &m3), flip_case(&pattern_host, &m1));
        prop_assert!(pattern_matches(&pat(&pattern), &uri_flipped), "{} ~ {}", pattern, uri_flipped);
        prop_assert!(pattern_matches(&pat(&pattern_flipped), &uri), "{} ~ {}", pattern_flipped, uri);
    }

    /// 6. A wildcard-free pattern with a non-loopback host and a path other than `/` matches
    ///    exactly the URIs equal to it up to default port, scheme/host case and query.
    #[test]
    fn exact_pattern_oracle(
        scheme in select(vec!["http", "https"]),
        host in domain(),
        pport in prop_oneof![Just(None), (1u16..=65535).prop_map(Some)],
        ppath in path().prop_filter("path other than /", |p| !p.is_empty()),
        u_scheme in select(vec!["same", "http", "https", "SAME"]),
        u_host in prop_oneof![3 => Just(None), 1 => domain().prop_map(Some), 1 => Just(Some("SAMEUP".to_owned())), 1 => Just(Some("SAMEDOT".to_owned()))],
        u_port in prop_oneof![2 => Just("same"), 1 => Just("none"), 1 => Just("default"), 1 => Just("random")],
        rnd_port in 1u16..=65535,
        u_path in prop_oneof![3 => Just(None), 1 => path().prop_map(Some), 1 => Just(Some("UPPER".to_owned())), 1 => Just(Some("SLASH".to_owned()))],
        q in prop::option::of(query()),
    ) {
        let pattern = format!("{scheme}://{host}{}{ppath}", port_text(pport));
        let default = if scheme == "http" { 80 } else { 443 };
        let us = match u_scheme { "same" => scheme.to_owned(), "SAME" => scheme.to_uppercase(), s => s.to_owned() };
        let uh = match u_host.as_deref() {
            None => host.clone(),
            Some("SAMEUP") => host.to_uppercase(),
            Some("SAMEDOT") => format!("{host}."),
            Some(other) => other.to_owned(),
        };
        let up = match u_port {
            "same" => pport,
            "none" => None,
            "default" => Some(if us.eq_ignore_ascii_case("http") { 80 } else { 443 }),
            _ => Some(rnd_port),
        };
        let upath = match u_path.as_deref() {
            None => ppath.clone(),
            Some("UPPER") => ppath.to_uppercase(),
            Some("SLASH") => format!("{ppath}/"),
            Some(other) => other.to_owned(),
        };
        let uri = format!("{us}://{uh}{}{upath}{}", port_text(up), q.unwrap_or_default());
        let u_default = if us.eq_ignore_ascii_case("http") { 80 } else { 443 };
        let expected = us.eq_ignore_ascii_case(scheme)
            && uh.to_ascii_lowercase().strip_suffix('.').unwrap_or(&uh.to_ascii_lowercase()) == host
            && up.unwrap_or(u_default) == pport.unwrap_or(default)
            && (if upath.is_empty() { "/" } else { &upath }) == ppath;
        prop_assert_eq!(pattern_matches(&pat(&pattern), &uri), expected, "{} ~ {}", pattern, uri);
    }

    /// 7. A loopback pattern without a port matches every port (RFC 8252 §7.3); the same
    ///    pattern on a non-loopback host does not.
    #[test]
    fn loopback_pattern_without_port_matches_every_port(
        host in loopback_host(),
        scheme in select(vec!["http", "https"]),
        pattern_path in select(vec!["", "/", "/callback"]),
        port in 1u16..=65535,
        extra in path(),
        other in domain(),
    ) {
        let pattern = pat(&format!("{scheme}://{host}{pattern_path}"));
        prop_assert!(pattern.is_loopback());
        let uri_path = if pattern_path == "/callback" { "/callback".to_owned() } else { extra.clone() };
        let uri = format!("{scheme}://{host}:{port}{uri_path}");
        prop_assert!(pattern_matches(&pattern, &uri), "{} ~ {}", pattern, uri);
        let no_port = format!("{scheme}://{host}{uri_path}");
        prop_assert!(pattern_matches(&pattern, &no_port), "{} ~ {}", pattern, no_port);
        let default = if scheme == "http" { 80 } else { 443 };
        let remote = pat(&format!("{scheme}://{other}{pattern_path}"));
        let remote_uri = format!("{scheme}://{other}:{port}{uri_path}");
        prop_assert_eq!(pattern_matches(&remote, &remote_uri), port == default, "{} ~ {}", remote, remote_uri);
    }

    /// 8. The query never changes a verdict (matching, registration, authorization).
    #[test]
    fn query_never_changes_a_verdict(
        uri in safe_uri(),
        pattern in any_pattern(),
        q in query(),
        app in select(vec![ApplicationType::Native, ApplicationType::Web]),
    ) {
        let with_query = format!("{uri}{q}");
        let p = pat(&pattern);
        prop_assert_eq!(pattern_matches(&p, &uri), pattern_matches(&p, &with_query), "{} ~ {}", pattern, with_query);
        let allow = AllowList::Patterns(vec![p]);
        let code_of = |r: Result<url::Url, authproof::proxy::redirect::Rejection>| r.map(|_| ()).map_err(|e| e.code());
        prop_assert_eq!(
            code_of(check_registration(&uri, &allow, app)),
            code_of(check_registration(&with_query, &allow, app))
        );
        prop_assert_eq!(code(&uri), code(&with_query));
    }

    /// 9. A fragment, even an empty `#`, never passes.
    #[test]
    fn fragments_never_pass(
        uri in safe_uri(),
        q in prop::option::of(query()),
        frag in "[a-zA-Z0-9/?=&.-]{0,12}",
        pattern in any_pattern(),
    ) {
        let with_fragment = format!("{uri}{}#{frag}", q.unwrap_or_default());
        prop_assert_eq!(code(&with_fragment), "fragment", "{}", with_fragment);
        prop_assert!(!pattern_matches(&pat(&pattern), &with_fragment));
        prop_assert!(check_registration_any_app(&with_fragment, &AllowList::Absent).is_err());
    }

    /// 10. A control character or whitespace anywhere never passes.
    #[test]
    fn control_and_whitespace_never_pass(
        uri in safe_uri(),
        at in any::<prop::sample::Index>(),
        ch in prop_oneof![
            (0u32..=0x20).prop_map(|c| char::from_u32(c).unwrap()),
            Just('\u{7f}'), Just('\u{85}'), Just('\u{a0}'), Just('\u{2028}'), Just('\u{3000}'), Just('\u{9f}'),
        ],
    ) {
        let boundaries: Vec<usize> = uri.char_indices().map(|(i, _)| i).chain([uri.len()]).collect();
        let i = boundaries[at.index(boundaries.len())];
        let mut bad = uri.clone();
        bad.insert(i, ch);
        prop_assert_eq!(code(&bad), "control_or_whitespace", "{:?}", bad);
        prop_assert!(check_registration_any_app(&bad, &AllowList::Absent).is_err());
        prop_assert!(check_authorization(&bad, std::slice::from_ref(&bad), &AllowList::Absent).is_err());
    }

    /// 11. DenyAll (`[]`) rejects everything: valid URIs, junk, already-registered URIs.
    #[test]
    fn deny_all_rejects_everything(
        uri in prop_oneof![safe_uri(), ".{0,40}"],
        app in select(vec![ApplicationType::Native, ApplicationType::Web]),
    ) {
        prop_assert!(check_registration_any_app(&uri, &AllowList::DenyAll).is_err());
        prop_assert!(check_registration(&uri, &AllowList::DenyAll, app).is_err());
        prop_assert!(check_authorization(&uri, std::slice::from_ref(&uri), &AllowList::DenyAll).is_err());
        // control: the same safe URI is accepted with no allow-list
        if code(&uri) == "ok" {
            prop_assert!(check_registration_any_app(&uri, &AllowList::Absent).is_ok());
        }
    }

    /// 12. Authorization accepts only registered URIs (byte-exact after normalisation), with
    ///     latitude only for the port of a loopback URI; patterns never widen it.
    #[test]
    fn authorization_accepts_only_registered(
        hosts in prop::collection::vec(prop_oneof![Just("localhost".to_owned()), Just("127.0.0.1".to_owned()), Just("app.example.com".to_owned()), Just("[::1]".to_owned())], 1..4),
        reg_ports in prop::collection::vec(prop_oneof![Just(None), Just(Some(3000u16)), Just(Some(8080u16))], 4),
        reg_paths in prop::collection::vec(select(vec!["/cb", "/callback", "/cb/"]), 4),
        schemes in prop::collection::vec(select(vec!["http", "https"]), 4),
        req_host in prop_oneof![Just("localhost".to_owned()), Just("127.0.0.1".to_owned()), Just("app.example.com".to_owned()), Just("[::1]".to_owned()), Just("evil.com".to_owned())],
        req_port in prop_oneof![Just(None), Just(Some(3000u16)), Just(Some(8080u16)), (1u16..=65535).prop_map(Some)],
        req_path in select(vec!["/cb", "/callback", "/cb/", "/other"]),
        req_scheme in select(vec!["http", "https"]),
        wide in any::<bool>(),
        near in prop::option::weighted(0.8, (any::<prop::sample::Index>(), any::<bool>(), any::<bool>())),
    ) {
        let registered: Vec<String> = hosts.iter().enumerate()
            .map(|(i, h)| format!("{}://{h}{}{}", schemes[i], port_text(reg_ports[i]), reg_paths[i]))
            .collect();
        // Mostly aim near a registered URI (same host, usually same scheme and path), so that
        // the interesting cases (port, scheme or path off by one) come up often.
        let (req_host, req_scheme, req_path) = match near {
            Some((idx, keep_scheme, keep_path)) => {
                let i = idx.index(hosts.len());
                (
                    hosts[i].clone(),
                    if keep_scheme { schemes[i] } else { req_scheme },
                    if keep_path { reg_paths[i] } else { req_path },
                )
            }
            None => (req_host, req_scheme, req_path),
        };
        let requested = format!("{req_scheme}://{req_host}{}{req_path}", port_text(req_port));
        let allow = if wide {
            let wide: Vec<String> = ["http://localhost:*", "https://*.example.com:*/*", "http://127.0.0.1:*", "http://[::1]:*", "https://app.example.com/*"]
                .iter().map(|s| s.to_string()).collect();
            AllowList::from_config(Some(&wide)).unwrap()
        } else {
            AllowList::Absent
        };
        let effective = |scheme: &str, port: Option<u16>| port.unwrap_or(if scheme == "http" { 80 } else { 443 });
        let oracle = hosts.iter().enumerate().any(|(i, h)| {
            schemes[i] == req_scheme && *h == req_host && reg_paths[i] == req_path
                && (oracle_loopback(h) || effective(schemes[i], reg_ports[i]) == effective(req_scheme, req_port))
        });
        let result = check_authorization(&requested, &registered, &allow);
        if oracle {
            // accepted unless the allow-list says no
            prop_assert_eq!(result.is_ok(), allow.permits(&url::Url::parse(&requested).unwrap()), "{} in {:?}", requested, registered);
        } else {
            prop_assert!(result.is_err(), "{} accepted but not registered in {:?}", requested, registered);
        }
    }

    /// 13. application_type web never accepts http, a non-https scheme or a loopback host;
    ///     native accepts http only to loopback hosts.
    #[test]
    fn application_type_rules(uri in safe_uri()) {
        let parsed = url::Url::parse(&uri).unwrap();
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let web = check_registration(&uri, &AllowList::Absent, ApplicationType::Web);
        prop_assert_eq!(web.is_ok(), parsed.scheme() == "https" && !oracle_loopback(&host), "{}", uri);
        let native = check_registration(&uri, &AllowList::Absent, ApplicationType::Native);
        if parsed.scheme() == "http" {
            prop_assert_eq!(native.is_ok(), oracle_loopback(&host), "{}", uri);
        } else {
            prop_assert!(native.is_ok(), "{}", uri);
        }
        if let Err(r) = web { prop_assert_eq!(r.code(), "application_type"); }
    }

    /// 14. Patterns never panic on any input, and a parsed pattern displays as written.
    #[test]
    fn pattern_parsing_is_total_and_round_trips(
        s in prop_oneof![".{0,40}", "(https?|cursor|x)://[*a-z.:@/\\[\\]0-9%#?-]{0,30}"],
    ) {
        if let Ok(p) = s.parse::<RedirectPattern>() {
            prop_assert_eq!(p.to_string(), s.clone());
            prop_assert_eq!(s.parse::<RedirectPattern>().unwrap(), p.clone());
            // an accepted pattern never has a wildcard in the scheme, or userinfo/fragment
            prop_assert!(!s.split(':').next().unwrap_or_default().contains('*'));
            let authority = s.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or_default());
            prop_assert!(!s.contains('#') && !authority.contains('@'), "{}", s);
        }
        let _ = check_safe(&s);
    }

    /// 15. What check_safe accepts, serialised again, is still accepted and unchanged.
    #[test]
    fn safe_uris_are_stable_under_normalisation(
        uri in prop_oneof![safe_uri(), "(https?|cursor)://[a-zA-Z0-9.:@/%\\\\\\[\\]?=-]{0,30}"],
    ) {
        if let Ok(url) = check_safe(&uri) {
            let again = check_safe(url.as_str());
            prop_assert!(again.is_ok(), "{} -> {} -> {:?}", uri, url, again);
            prop_assert_eq!(again.unwrap(), url);
        }
    }
}
