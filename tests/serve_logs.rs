//! `authproof serve` logs: plain text without ANSI colour codes when standard error is not a
//! terminal, one JSON object per line with `--log-format json`, and the entries the store
//! holds every second when `authproof::store::held` is enabled at debug level.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_authproof");

/// Start `authproof serve` from the environment alone and return its first log lines.
fn first_lines(extra: &[&str]) -> Vec<String> {
    lines_until(extra, "info", |lines| lines.len() >= 3)
}

/// Start `authproof serve` from the environment alone with `RUST_LOG=rust_log`, and return
/// its log lines once `enough` says so (or once it stops).
fn lines_until(extra: &[&str], rust_log: &str, enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut child = Command::new(EXE)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("AUTHPROOF_STORAGE", "memory")
        .env("AUTHPROOF_UPSTREAM__CLIENT_ID", "app")
        .env(
            "AUTHPROOF_UPSTREAM__CLIENT_SECRET",
            "upstream-secret-0123456789",
        )
        .env(
            "AUTHPROOF_UPSTREAM__AUTHORIZATION_ENDPOINT",
            "http://127.0.0.1:9/authorize",
        )
        .env(
            "AUTHPROOF_UPSTREAM__TOKEN_ENDPOINT",
            "http://127.0.0.1:9/token",
        )
        .env("RUST_LOG", rust_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("authproof serve");
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !enough(&lines) && reader.read_line(&mut line).unwrap_or(0) > 0 {
        lines.push(std::mem::take(&mut line));
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn text_logs_carry_no_colour_codes_off_a_terminal() {
    let lines = first_lines(&[]);
    assert!(
        lines.iter().any(|l| l.contains("authproof proxy started")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let lines = first_lines(&["--log-format", "json"]);
    assert!(!lines.is_empty());
    let started = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .find(|v| v["fields"]["message"] == "authproof proxy started")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(started["level"], "INFO");
    assert!(
        started["fields"]["listen"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

#[test]
fn the_entries_the_store_holds_are_logged_when_asked() {
    let held = |l: &String| l.contains("store entries held");
    let lines = lines_until(&[], "info,authproof::store::held=debug", |lines| {
        lines.iter().filter(|l| held(l)).count() >= 2
    });
    let line = lines
        .iter()
        .find(|l| held(l))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(line.contains("DEBUG"), "{line}");
    for c in authproof::proxy::store::Collection::ALL {
        assert!(
            line.contains(&format!(" {}=", c.name())),
            "{}: {line}",
            c.name()
        );
    }
    assert!(line.contains(" clients=0 "), "a fresh store: {line}");
}
