//! A process's memory and CPU as /proc reports them: what the benches measure the controller,
//! the simulator and Prometheus by.

/// `(RSS in KiB, CPU seconds used: user + system)` of process `pid` (`"self"` for this one);
/// zeros when it cannot be read (the process is gone).
pub fn proc_stats(pid: &str) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the command.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    (rss, ticks / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_memory_and_a_gone_one_has_none() {
        let (rss, cpu) = super::proc_stats("self");
        assert!(rss > 0 && cpu >= 0.0);
        assert_eq!(super::proc_stats("999999999"), (0, 0.0));
    }
}
