//! CPU time (user + system) a process has used, read from `/proc/<pid>/stat` (Linux), in
//! seconds. The resolution is one clock tick (10 ms): measure phases of a second or more.

/// Of this process.
pub fn this_process() -> f64 {
    of("/proc/self/stat")
}

/// Of the process `pid` (0 when it cannot be read).
pub fn of_pid(pid: u32) -> f64 {
    of(&format!("/proc/{pid}/stat"))
}

fn of(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / USER_HZ
}

/// Clock ticks per second in `/proc` (USER_HZ, 100 on every Linux architecture).
const USER_HZ: f64 = 100.0;
