//! The `mock-idp` binary: a bad config exits 2 with file:line:col; a good one serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mock-idp");

#[test]
fn bad_config_exits_2_and_names_the_place() {
    let dir = std::env::temp_dir().join(format!("mock-idp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("idp.yaml");
    std::fs::write(
        &path,
        "flavor: oidc\nclients:\n  - id: app\n    secrett: x\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4:5:", path.display())), "{err}");
}

#[test]
fn serves_the_workos_example_on_the_given_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workos.yaml");
    let mut child = Command::new(BIN)
        .args(["--config", example, "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let doc: Option<serde_json::Value> = rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server");
        reqwest::get(url).await.ok()?.json().await.ok()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}")),
        "{first}"
    );
    let doc = doc.expect("metadata answered");
    assert_eq!(doc["issuer"], format!("http://127.0.0.1:{port}"));
    assert_eq!(
        doc["registration_endpoint"],
        format!("http://127.0.0.1:{port}/oauth2/register")
    );
}
