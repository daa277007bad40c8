//! Process-wide settings the binaries apply first thing in `main`.

/// Turns transparent huge pages off for this process and for the processes it starts
/// (`prctl(PR_SET_THP_DISABLE)`; Linux only, elsewhere nothing is done). Answers whether the
/// setting took effect.
///
/// The binaries allocate through mimalloc, which reserves its arenas as large regions. Where
/// the kernel backs every large anonymous region with 2 MiB pages
/// (`/sys/kernel/mm/transparent_hugepage/enabled` set to `always`), resident memory then grows
/// in 2 MiB steps: the proxy held 67 MiB under the flood bench that way, against 53 MiB with
/// 4 KiB pages. The `mimalloc` crate's `no_thp` feature only stops mimalloc from asking for
/// huge pages itself (`madvise`), which covers kernels set to `madvise`.
pub fn disable_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and touches no memory of
        // this process; it changes a flag of the process's memory map.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_are_off_afterwards() {
        assert!(disable_transparent_huge_pages());
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("THP_enabled:"))
            .expect("a THP_enabled line (Linux 5.0 and later)");
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
}
