//! CPU time of other processes, from `/proc/PID/stat` (utime + stime of all their threads).

use std::collections::HashMap;
use std::process::Command;

use anyhow::{Context, Result};

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless configured otherwise).
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
pub fn ticks(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = text.rsplit_once(')').map(|(_, r)| r).context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Ticks of several processes; those gone are left out.
pub fn ticks_of(pids: &[u32]) -> HashMap<u32, u64> {
    pids.iter().filter_map(|&p| ticks(p).ok().map(|t| (p, t))).collect()
}

/// Ticks spent between two readings, counting processes that appeared in between from zero.
pub fn spent(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(p, t)| t.saturating_sub(before.get(p).copied().unwrap_or(0)))
        .sum()
}
