//! What the benches share: reading a process's memory and CPU from /proc (the e2e harness's
//! reader).

/// `(RSS in KiB, CPU seconds used)` of process `pid`.
pub fn proc_stats(pid: u32) -> (u64, f64) {
    rollout_rs_e2e::process_stats::proc_stats(&pid.to_string())
}
