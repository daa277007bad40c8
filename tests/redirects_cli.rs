//! `authproof redirects check`, run as the built binary: exit codes and the one output line.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authproof"))
        .arg("redirects")
        .arg("check")
        .args(args)
        .output()
        .expect("run the authproof binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn one_line(out: &Output) -> String {
    let text = stdout(out);
    assert!(text.ends_with('\n'), "{text:?}");
    assert_eq!(text.lines().count(), 1, "exactly one line: {text:?}");
    text.trim_end().to_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&one_line(out)).expect("one JSON object")
}

#[test]
fn userinfo_bypass_is_rejected_with_reason() {
    let out = run(&[
        "--allow",
        "http://localhost:*",
        "http://localhost@evil.com/cb",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(line.contains("userinfo"), "{line}");
    assert!(line.contains("not allowed"), "{line}");
    assert!(line.starts_with("rejected"), "{line}");
}

#[test]
fn allowed_names_the_matching_pattern() {
    let out = run(&[
        "--allow",
        "https://*.example.com/cb",
        "--allow",
        "http://localhost:*",
        "http://localhost:3000/callback",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let line = one_line(&out);
    assert!(line.starts_with("allowed"), "{line}");
    assert!(line.contains("http://localhost:*"), "{line}");
    assert!(!line.contains("*.example.com"), "{line}");
}

#[test]
fn no_allow_list_allows_any_safe_uri() {
    let out = run(&["https://app.example.com/cb"]);
    assert_eq!(out.status.code(), Some(0));
    let line = one_line(&out);
    assert!(line.contains("no allow-list"), "{line}");

    // ... but never an unsafe one.
    let out = run(&["javascript:alert(1)"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line(&out).contains("unsafe_scheme"));
}

#[test]
fn rejected_not_allowed_explains_the_miss() {
    let out = run(&["--allow", "http://127.0.0.1:*", "http://localhost:8080/cb"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(line.contains("not_allowed"), "{line}");
    assert!(
        line.contains("host") && line.contains("127.0.0.1"),
        "{line}"
    );
}

#[test]
fn dot_segments_and_fragments_are_rejected() {
    for (uri, code) in [
        ("https://app.example.com/%2e%2e/evil", "dot_segment"),
        ("https://app.example.com/cb#", "fragment"),
        ("https://app.example.com/c b", "control_or_whitespace"),
    ] {
        let out = run(&["--allow", "https://app.example.com/*", uri]);
        assert_eq!(out.status.code(), Some(1), "{uri}");
        assert!(one_line(&out).contains(code), "{uri}");
    }
}

#[test]
fn deny_all_rejects_everything() {
    let out = run(&["--deny-all", "http://localhost:3000/cb"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(line.contains("deny_all") && line.contains("[]"), "{line}");
}

#[test]
fn invalid_pattern_exits_2() {
    let out = run(&[
        "--allow",
        "https://a.*.example.com",
        "https://a.b.example.com/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out);
    assert!(line.contains("invalid redirect pattern"), "{line}");
    assert!(line.contains("https://a.*.example.com"), "{line}");

    let out = run(&[
        "--format",
        "json",
        "--allow",
        "https://user@x.com",
        "https://x.com/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_eq!(v["code"], "invalid_pattern");
    assert_eq!(v["allowed"], false);
    assert_eq!(v["pattern"], "https://user@x.com");
}

#[test]
fn usage_errors_exit_2() {
    // --allow and --deny-all conflict
    let out = run(&[
        "--allow",
        "http://localhost:*",
        "--deny-all",
        "http://localhost/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // missing URI
    let out = run(&["--allow", "http://localhost:*"]);
    assert_eq!(out.status.code(), Some(2));
    // unknown format
    let out = run(&["--format", "yaml", "http://localhost/"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_output() {
    let out = run(&[
        "--format",
        "json",
        "--allow",
        "http://localhost:*",
        "http://localhost:1@evil.com/cb",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["uri"], "http://localhost:1@evil.com/cb");
    assert_eq!(v["code"], "userinfo");
    assert!(v["pattern"].is_null());
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("userinfo") && !reason.contains(":1@"),
        "{reason}"
    );

    let out = run(&[
        "--format",
        "json",
        "--allow",
        "http://localhost:*",
        "http://localhost:3000/cb",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["pattern"], "http://localhost:*");
    assert!(v["code"].is_null());
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["allowed", "code", "pattern", "reason", "uri"]);

    let out = run(&["--format", "json", "https://example.com/cb"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert!(v["pattern"].is_null());
    assert!(v["reason"].as_str().unwrap().contains("no allow-list"));
}

#[test]
fn hostile_uri_still_prints_one_line() {
    let out = run(&["https://example.com/cb\nallowed: fake"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out);
    assert!(line.contains("control_or_whitespace"), "{line}");
}
