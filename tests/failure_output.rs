//! Failure text is product: each scenario under `tests/failures/` fails on purpose, and the
//! text `authproof test` prints for it must equal the `.expected` file next to it (after
//! replacing what changes from run to run: ports, dates, generated ids). Set
//! `AUTHPROOF_BLESS=1` to rewrite the expected files after a deliberate change, then review
//! the diff.

use authproof::scenario::load;
use authproof::scenario::report::{self, Outcome};
use authproof::scenario::run::{self, TargetConfig};
use regex::Regex;
use std::path::{Path, PathBuf};

fn normalise(text: &str) -> String {
    let rules = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
        (r"(?m)^(\s*< date: ).*$", "${1}DATE"),
        (r"(?m)^(\s*< content-length: ).*$", "${1}LEN"),
        (r#""client_id": ?"[^"]+""#, r#""client_id":"CLIENT_ID""#),
        (
            r#""client_id_issued_at": ?\d+"#,
            r#""client_id_issued_at":TIME"#,
        ),
        (
            r#""client_secret_expires_at": ?\d+"#,
            r#""client_secret_expires_at":TIME"#,
        ),
        (r"\(\d+(\.\d+)? ?ms\)", "(TIME)"),
    ];
    let mut out = text.to_string();
    for (pattern, with) in rules {
        out = Regex::new(pattern)
            .expect("a valid rule")
            .replace_all(&out, with)
            .into_owned();
    }
    out.trim_end().to_string() + "\n"
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/failures")
}

/// The text of every trial under `tests/failures`: `(file, level, text)`.
fn outputs() -> Vec<(PathBuf, String, String)> {
    let loaded = load::load_paths(&[dir()]).expect("the folder loads");
    let mut out = Vec::new();
    for trial in run::plan(&loaded) {
        let result = run::execute(&trial, &TargetConfig::Embedded);
        let file = PathBuf::from(&result.file);
        let (level, text) = match &result.outcome {
            Outcome::Failed { level, .. } => (
                level.to_string(),
                report::failure_text(&result)
                    .unwrap_or_default()
                    .to_string(),
            ),
            other => panic!("{} was meant to fail: {other:?}", result.name),
        };
        // Paths in the text are the checkout's: make them relative to the crate.
        let text = text.replace(&format!("{}/", env!("CARGO_MANIFEST_DIR")), "");
        out.push((file, level, text));
    }
    out
}

fn expected_path(file: &Path) -> PathBuf {
    file.with_extension("expected")
}

#[test]
fn failure_text_matches_the_expected_files() {
    let bless = std::env::var_os("AUTHPROOF_BLESS").is_some();
    let mut mismatched = Vec::new();
    let results = outputs();
    assert_eq!(results.len(), 5, "one trial per fixture");
    for (file, level, text) in results {
        let actual = format!("level: {level}\n\n{}", normalise(&text));
        let path = expected_path(&file);
        if bless {
            std::fs::write(&path, &actual).expect("write the expected file");
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with AUTHPROOF_BLESS=1)", path.display()));
        if expected != actual {
            mismatched.push(format!(
                "{}\n--- expected\n{expected}\n--- actual\n{actual}",
                path.display()
            ));
        }
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n\n"));
}

#[test]
fn normalising_keeps_what_matters() {
    let text =
        "> GET http://127.0.0.1:41234/x\n< date: Wed, 02 Dec 2026 23:00:00 GMT\n  expected: 200";
    assert_eq!(
        normalise(text),
        "> GET http://127.0.0.1:PORT/x\n< date: DATE\n  expected: 200\n"
    );
}
