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

/// Whether transparent huge pages are off for this process (`prctl(PR_GET_THP_DISABLE)`);
/// `None` where that cannot be asked (not Linux, or a kernel older than 3.15).
pub fn transparent_huge_pages_disabled() -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        let unused: libc::c_ulong = 0;
        // SAFETY: PR_GET_THP_DISABLE takes integer arguments only and reads a flag.
        match unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, unused, unused, unused, unused) } {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn transparent_huge_pages_are_off_afterwards() {
        assert!(disable_transparent_huge_pages());
        assert_eq!(transparent_huge_pages_disabled(), Some(true));
        // Linux 5.0 and later also say so in /proc/self/status.
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
        }
    }
}
