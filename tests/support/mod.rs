//! Shared by the storage tests (tests/store_backends.rs, tests/serve_instances.rs,
//! tests/proxy_bounds.rs) and the benches (refresh, flood): a private redis-server, a store of
//! each kind, a temporary directory, a switchable forwarder and an `authproof serve` process
//! launcher.
#![allow(dead_code)]

pub mod backend;
pub mod redis;
pub mod serve;
pub mod switch;

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "authproof-{tag}-{}-{}",
            std::process::id(),
            authproof::oauth::random_token(6)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
