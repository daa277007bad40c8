//! The HTML conformance report: one self-contained document (no scripts, stylesheets, fonts
//! or images from elsewhere) whose structure a browser and a person can rely on: the matrix
//! first, then one section per failure with its clause, the quoted requirement, expected vs
//! actual and the exchange.

use authproof::scenario::conformance;
use authproof::scenario::load;
use authproof::scenario::model::Level;
use authproof::scenario::report::{Outcome, Summary};
use authproof::scenario::run::{self, TargetConfig};
use authproof::scenario::spec;
use std::path::PathBuf;
use std::time::Duration;

fn report() -> (String, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let paths = [
        root.join("tests/failures"),
        root.join("scenarios/metadata/authorization-server.yaml"),
    ];
    let loaded = load::load_paths(&paths).expect("the files load");
    let results: Vec<_> = run::plan(&loaded)
        .iter()
        .map(|t| run::execute(t, &TargetConfig::Embedded))
        .collect();
    let summary = Summary::from_results(&results, vec![], Level::Must, Duration::from_secs(1));
    (
        conformance::html(&results, &summary, "the embedded proxy"),
        conformance::markdown(&results, &summary, "the embedded proxy"),
    )
}

/// Element names in order of appearance: `("table", open)`.
fn tags(html: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("every tag closes");
        let inner = &rest[..end];
        rest = &rest[end + 1..];
        if inner.starts_with('!') {
            continue;
        }
        let closing = inner.starts_with('/');
        let name: String = inner
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        out.push((name.to_ascii_lowercase(), !closing));
    }
    out
}

const VOID: &[&str] = &["meta", "br", "hr", "img", "link", "input"];

#[test]
fn the_html_report_is_well_formed_and_self_contained() {
    let (html, _) = report();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // Balanced elements.
    let mut stack: Vec<String> = Vec::new();
    for (name, open) in tags(&html) {
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if open {
            stack.push(name);
        } else {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.as_str()),
                "mis-nested </{name}>"
            );
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    // Nothing fetched from elsewhere.
    for banned in [
        "<script", "<link", "<img", "<iframe", " src=", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "{banned} in the report");
    }
    assert_eq!(html.matches("<style>").count(), 1);
    // The matrix comes first, with one row per area and the total.
    let matrix = html.find("<table id=\"matrix\">").expect("a matrix");
    let first_failure = html.find("<section class=\"trial\"").expect("failures");
    assert!(matrix < first_failure);
    let table = &html[matrix..html[matrix..].find("</table>").unwrap() + matrix];
    assert_eq!(table.matches("<th>").count(), 9, "{table}");
    assert!(table.contains("<th>failed: must</th>"), "{table}");
    assert_eq!(
        table.matches("<tr").count(),
        1 + 2 + 1,
        "header, two areas, total: {table}"
    );
    assert!(
        table.contains(
            "<tr class=\"total\"><td>all</td><td>6</td><td>1</td><td class=\"must\">5</td>"
        ),
        "{table}"
    );
}

#[test]
fn each_failure_shows_clause_quote_expected_actual_and_exchange() {
    let (html, md) = report();
    let sections: Vec<&str> = html.split("<section class=\"trial\"").skip(1).collect();
    assert_eq!(sections.len(), 5, "{html}");
    assert!(
        sections
            .iter()
            .all(|s| s.starts_with(" data-level=\"must\""))
    );
    let three = sections
        .iter()
        .find(|s| s.contains("levels::metadata-three-levels"))
        .expect("the three-level trial");
    for (id, level) in [
        ("RFC8414-2", "must"),
        ("RFC9207-2", "should"),
        ("AUTHPROOF-METADATA", "profile"),
    ] {
        let c = spec::lookup(id).unwrap();
        assert!(three.contains(&format!("<code>{id}</code>")), "{id}");
        let quote = foundations::html::escape(c.quote.as_deref().unwrap());
        assert!(
            three.contains(&format!("<blockquote>{quote}</blockquote>")),
            "{id}"
        );
        assert!(three.contains(&format!("<span class=\"badge {level}\">{level}</span>")));
    }
    assert!(
        three.contains("expected: <code>&quot;https://issuer.invalid&quot;</code>"),
        "{three}"
    );
    assert!(
        three.contains("<pre class=\"exchange\">&gt; GET http://127.0.0.1:"),
        "{three}"
    );
    // The Markdown report says the same.
    assert!(
        md.contains("| **all** | 6 | 1 | 5 | 0 | 0 | 0 | 0 | 0 |"),
        "{md}"
    );
    assert!(md.contains("  - clause: `RFC9207-2`"), "{md}");
    assert!(
        md.contains("  - expected: `\"https://issuer.invalid\"`"),
        "{md}"
    );
}

/// Opened in a real browser when Chromium is installed: it renders the matrix.
#[test]
fn a_browser_renders_the_matrix() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok()
    }) else {
        eprintln!("skipping: chromium not installed");
        return;
    };
    let (html, _) = report();
    let file = std::env::temp_dir().join(format!("authproof-report-{}.html", uuid::Uuid::new_v4()));
    std::fs::write(&file, &html).unwrap();
    let out = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_file(&file);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<table id=\"matrix\">"), "{dom}");
    assert!(dom.contains("authproof conformance report"), "{dom}");
}

/// `expect.assumes`: against a target whose profile lacks the architecture, the expectation
/// is listed as not checked with the reason, and the trial passes on its other checks; the
/// embedded target (authproof's architecture) makes the check, which fails here on purpose.
#[test]
fn an_expectation_for_another_architecture_is_not_checked() {
    let dir = std::env::temp_dir().join(format!("authproof-assumes-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("area")).unwrap();
    let file = dir.join("area/assumes.yaml");
    std::fs::write(
        &file,
        "name: an expectation for another architecture\n\
         spec: [RFC8414-3]\n\
         steps:\n  \
         - http: { url: /.well-known/openid-configuration }\n    \
         expect:\n      \
         - status: 200\n      \
         - assumes: [own_tokens]\n        \
         status: 418\n",
    )
    .unwrap();
    let loaded = load::load_paths(std::slice::from_ref(&file)).expect("the file loads");
    let trials = run::plan(&loaded);
    assert_eq!(trials.len(), 1);

    // The mock IdP stands in for a running server: it answers the discovery request.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let idp = rt
        .block_on(authproof::mock_idp::MockIdp::builder().spawn())
        .expect("the mock IdP starts");
    let profile: authproof::scenario::profile::Profile =
        foundations::yaml::from_str("architecture: [own_callback]\n", "<profile>").unwrap();
    let external = TargetConfig::External(Box::new(run::ExternalTarget {
        target: idp.url(),
        idp: None,
        profile,
    }));
    let r = run::execute(&trials[0], &external);
    assert!(matches!(r.outcome, Outcome::Passed), "{:?}", r.outcome);
    assert_eq!(r.not_checked.len(), 1, "{:?}", r.not_checked);
    assert_eq!(
        r.not_checked[0].what, "status",
        "names what was not checked"
    );
    assert!(
        r.not_checked[0].reason.contains(
            "assumes a target with own_tokens (the profile's architecture: own_callback)"
        ),
        "{:?}",
        r.not_checked
    );

    // Embedded, the check is made (and fails: the mock IdP answers 200, not 418).
    let r = run::execute(&trials[0], &TargetConfig::Embedded);
    match &r.outcome {
        Outcome::Failed { message, .. } => assert!(message.contains("418"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(r.not_checked.is_empty(), "{:?}", r.not_checked);
    std::fs::remove_dir_all(&dir).ok();
}
