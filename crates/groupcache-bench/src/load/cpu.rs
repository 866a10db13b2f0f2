//! CPU time of processes, read from Linux `/proc/PID/stat`.

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat`
/// (`USER_HZ`, 100 on every mainstream Linux build).
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds consumed so far by process `pid`, or `None`
/// when it cannot be read (not Linux, or the process is gone).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&text)
}

/// User + system CPU seconds of this process.
pub(crate) fn self_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu(&text)
}

/// The sum over `pids`, or `None` if any of them cannot be read.
pub(crate) fn total_cpu_seconds(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&p| process_cpu_seconds(p)).sum()
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in seconds.
/// The command name (field 2) is in parentheses and may hold spaces, so
/// fields are counted after its closing parenthesis.
fn parse_stat_cpu(text: &str) -> Option<f64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state): utime is the 12th field after it.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat line whose command name holds spaces and parentheses parses to
    /// (utime + stime) / 100.
    #[test]
    fn parses_utime_and_stime() {
        let line = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 10 1000 10";
        assert_eq!(parse_stat_cpu(line), Some(3.0));
    }

    /// This process's own CPU time is readable on Linux.
    #[test]
    fn reads_own_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(self_cpu_seconds().is_some());
        }
    }
}
