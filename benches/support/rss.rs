//! Resident memory of a process, read from `/proc/<pid>/status` (Linux).

/// Resident memory in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rss {
    /// VmRSS.
    pub total: u64,
    /// RssAnon: heap and stacks, what the process really holds.
    pub anon: u64,
    /// RssFile: pages of the executable and libraries (clean, shared, reclaimable).
    pub file: u64,
}

impl Rss {
    /// From a `/proc/<pid>/status` file (zeros when it cannot be read).
    pub fn of(status_path: &str) -> Rss {
        let text = std::fs::read_to_string(status_path).unwrap_or_default();
        let field = |name: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
                .unwrap_or(0)
        };
        Rss {
            total: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }

    /// Of the process `pid`.
    pub fn of_pid(pid: u32) -> Rss {
        Rss::of(&format!("/proc/{pid}/status"))
    }

    /// Of this process.
    pub fn this_process() -> Rss {
        Rss::of("/proc/self/status")
    }

    /// The larger of each field.
    pub fn max(self, other: Rss) -> Rss {
        Rss {
            total: self.total.max(other.total),
            anon: self.anon.max(other.anon),
            file: self.file.max(other.file),
        }
    }
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (anon {}, file {})",
            mib(self.total),
            mib(self.anon),
            mib(self.file)
        )
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
