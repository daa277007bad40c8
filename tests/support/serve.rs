//! `authproof serve` as a real process: started with a config file, ready once it logs that it
//! listens (its address parsed from the log), killed on drop. Its log is kept up to
//! [`KEPT_LOG_BYTES`]; [`Serve::start_watching`] also hands every line to a callback (a bench
//! under load reads figures from a log far longer than that).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most log text a [`Serve`] keeps (the lines after it are counted, not kept).
pub const KEPT_LOG_BYTES: usize = 4 << 20;

pub struct Serve {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// How a start ended when the process did not come up.
#[derive(Debug)]
pub struct StartFailure {
    /// The exit status, if it exited.
    pub status: Option<std::process::ExitStatus>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Serve {
    /// Run `exe serve --config config --listen 127.0.0.1:0` with `env` (and no inherited
    /// `AUTHPROOF_*` variables) in `cwd`; wait until it listens, or until it exits.
    pub fn start(
        exe: &str,
        config: &Path,
        cwd: &Path,
        env: &[(&str, &str)],
    ) -> Result<Serve, StartFailure> {
        Self::start_watching(exe, config, cwd, env, |_| {})
    }

    /// [`Serve::start`], handing every line the process logs to `watch` (on the thread that
    /// reads its standard error) before keeping it.
    pub fn start_watching(
        exe: &str,
        config: &Path,
        cwd: &Path,
        env: &[(&str, &str)],
        mut watch: impl FnMut(&str) + Send + 'static,
    ) -> Result<Serve, StartFailure> {
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .current_dir(cwd)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("AUTHPROOF_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn authproof serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut dropped = 0u64;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                watch(&line);
                let mut l = sink.lock().unwrap();
                if l.len() + line.len() < KEPT_LOG_BYTES {
                    l.push_str(&line);
                    l.push('\n');
                } else {
                    dropped += 1;
                }
            }
            if dropped > 0 {
                let mut l = sink.lock().unwrap();
                l.push_str(&format!("({dropped} more lines not kept)\n"));
            }
        });
        let start = Instant::now();
        loop {
            let text = log.lock().unwrap().clone();
            if let Some(addr) = text
                .lines()
                .find(|l| l.contains("authproof proxy started"))
                .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("listen=")))
                .and_then(|a| a.parse().ok())
            {
                return Ok(Serve { child, addr, log });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Let the reader thread drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                return Err(StartFailure {
                    status: Some(status),
                    stderr: log.lock().unwrap().clone(),
                });
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartFailure {
                    status: None,
                    stderr: log.lock().unwrap().clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kill it at once (SIGKILL: a crash, nothing flushed on the way out).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ask it to stop (SIGTERM) and wait for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
