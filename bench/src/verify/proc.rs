//! Child processes with a time limit and their peak memory, and this process's own memory.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A progress note on stderr, so stdout holds only results.
pub fn progress(what: &str) {
    eprintln!("... {what}");
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`), if present.
pub fn status_bytes(pid: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// This process's resident memory now.
pub fn rss() -> u64 {
    status_bytes("self", "VmRSS").unwrap_or(0)
}

/// This process's peak resident memory so far.
pub fn hwm() -> u64 {
    status_bytes("self", "VmHWM").unwrap_or(0)
}

/// Memory the kernel says is available for new work.
pub fn mem_available() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// How a measured child ended.
pub struct Measured {
    pub stdout: String,
    pub stderr: String,
    pub status: Option<ExitStatus>,
    /// Spawn to exit.
    pub wall: Duration,
    /// The highest `VmHWM` read while it ran (polled every few milliseconds; the high-water mark
    /// only grows, so the last read before exit is close to the true peak).
    pub peak_rss: u64,
    pub timed_out: bool,
}

impl Measured {
    /// The `key=value` lines of its stdout.
    pub fn values(&self) -> HashMap<String, String> {
        key_values(&self.stdout)
    }

    pub fn ok(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// Why it failed, in one line, for the table.
    pub fn failure(&self) -> String {
        if self.timed_out {
            return format!("timed out after {:.0} s", self.wall.as_secs_f64());
        }
        // A Rust child's `Error: …` line says more than the last line of a backtrace.
        if let Some(e) = self.stderr.lines().find_map(|l| l.strip_prefix("Error: ")) {
            return format!("failed: {e}");
        }
        let last = self.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        match self.status {
            Some(s) => format!("failed ({s}): {}", last.chars().take(120).collect::<String>()),
            None => "failed".into(),
        }
    }
}

pub fn key_values(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// A numeric value a child printed.
pub fn num(values: &HashMap<String, String>, key: &str) -> Result<f64> {
    values
        .get(key)
        .with_context(|| format!("the child printed no {key}="))?
        .parse::<f64>()
        .with_context(|| format!("{key}= is not a number"))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion or until `limit`, polling its peak RSS. A child still running at the
/// limit is killed and reported as timed out; a non-zero exit is reported, not an error.
pub fn run_measured(cmd: &mut Command, limit: Duration) -> Result<Measured> {
    let start = Instant::now();
    let mut child = cmd
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", describe(cmd)))?;
    let pid = child.id().to_string();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let mut peak = 0;
    let mut timed_out = false;
    let status = loop {
        if let Some(hwm) = status_bytes(&pid, "VmHWM") {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            break Some(status);
        }
        if start.elapsed() >= limit {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    Ok(Measured {
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        status,
        wall,
        peak_rss: peak,
        timed_out,
    })
}

/// Runs a short command that must succeed, returning its stdout.
pub fn run_ok(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run {}", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}\n{}",
            out.status,
            describe(cmd),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
