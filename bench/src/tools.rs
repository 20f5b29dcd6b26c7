//! The external programs (`honnin`, `openssl`, `ab`), servers that die with the benchmark, and files.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Tools {
    pub honnin: PathBuf,
    pub openssl: PathBuf,
    pub ab: PathBuf,
}

impl Tools {
    pub fn new(honnin: PathBuf, openssl: PathBuf, ab: PathBuf) -> Result<Self> {
        if !honnin.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p honnin` or pass --honnin",
                honnin.display()
            );
        }
        for (tool, arg, hint) in [
            (&openssl, "version", "install openssl"),
            (&ab, "-V", "install apache2-utils (apt-get install -y apache2-utils)"),
        ] {
            Command::new(tool)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .with_context(|| format!("cannot run {}: {hint}", tool.display()))?;
        }
        Ok(Tools { honnin, openssl, ab })
    }

    pub fn openssl(&self) -> Command {
        Command::new(&self.openssl)
    }

    pub fn openssl_version(&self) -> Result<String> {
        let out = run(self.openssl().arg("version"), "openssl version")?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// The number of CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A progress note on stderr, so stdout holds only results.
pub fn progress(what: &str) {
    eprintln!("... {what}");
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for (i, a) in cmd.get_args().enumerate() {
        if i == 12 {
            s.push_str(" …");
            break;
        }
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs a command to completion; a non-zero exit is an error carrying its stderr.
pub fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot run {}", describe(cmd)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        bail!("{what} failed ({}): {}\n{tail}", out.status, describe(cmd));
    }
    Ok(out)
}

/// Runs a command and returns its wall-clock time, spawn to exit.
pub fn timed(cmd: &mut Command, what: &str) -> Result<(Duration, Output)> {
    let start = Instant::now();
    let out = run(cmd, what)?;
    Ok((start.elapsed(), out))
}

/// A background server, stopped and reaped when dropped (also when the benchmark fails).
pub struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
    first_line: Option<mpsc::Receiver<String>>,
}

impl Server {
    /// Starts `cmd` with stderr (and stdout, unless `capture_stdout`) going to `log`. With
    /// `capture_stdout`, a thread drains stdout and [`Server::first_line`] returns its first line.
    pub fn spawn(name: &'static str, cmd: &mut Command, log: &Path, capture_stdout: bool) -> Result<Self> {
        let file = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let stdout = if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::from(
                file.try_clone()
                    .with_context(|| format!("cannot reopen {}", log.display()))?,
            )
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name}: {}", describe(cmd)))?;
        let first_line = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut lines = BufReader::new(out).lines();
                if let Some(Ok(line)) = lines.next() {
                    let _ = tx.send(line);
                }
                // Keep reading so the server never writes into a closed pipe.
                for _ in lines {}
            });
            rx
        });
        Ok(Server {
            name,
            child,
            log: log.to_path_buf(),
            first_line,
        })
    }

    /// The first line the server printed on stdout, waiting at most `timeout`.
    pub fn first_line(&mut self, timeout: Duration) -> Result<String> {
        let rx = self
            .first_line
            .as_ref()
            .with_context(|| format!("{}: stdout is not captured", self.name))?;
        match rx.recv_timeout(timeout) {
            Ok(line) => Ok(line),
            Err(_) => bail!(
                "{} printed nothing on stdout within {timeout:?}:\n{}",
                self.name,
                self.log_tail()
            ),
        }
    }

    /// The server's log so far (last lines), for error messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until a line of the server's log contains `needle`, and returns that line. (No
    /// probing connection: an empty connection sends `openssl ocsp` into a busy loop.)
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = fs::read_to_string(&self.log).with_context(|| format!("cannot read {}", self.log.display()))?;
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Ok(line.to_owned());
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fails if the server has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self
            .child
            .try_wait()
            .with_context(|| format!("cannot poll {}", self.name))?
        {
            bail!("{} exited ({status}):\n{}", self.name, self.log_tail());
        }
        Ok(())
    }
}

/// The pids whose parent is `pid` (e.g. the workers of `openssl ocsp -multi`), from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let child: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
        // "pid (comm) state ppid …"; comm may hold spaces or parentheses, so split after the last ')'.
        let ppid: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == pid).then_some(child)
    })
    .collect()
}

fn signal(pids: &[u32], sig: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(sig)
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM to the server, then to its own children by pid (`openssl ocsp -multi` only
        // notices its SIGTERM once a worker exits); SIGKILL whatever is left after 3 s.
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id();
            let workers = children_of(pid);
            signal(&[pid], "-TERM");
            signal(&workers, "-TERM");
            let deadline = Instant::now() + Duration::from_secs(3);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() >= deadline {
                    signal(&workers, "-KILL");
                    if let Err(e) = self.child.kill() {
                        eprintln!("warning: cannot stop {}: {e}", self.name);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.wait();
    }
}

pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn mkdir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))
}

/// A PEM block with `label` around `der`.
pub fn pem(label: &str, der: &[u8]) -> Result<String> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|e| anyhow::anyhow!("cannot PEM-encode a {label}: {e}"))
}

/// Every PEM block labelled `label` in `text`, decoded.
pub fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let block = &rest[start..];
        let stop = block
            .find(&end)
            .with_context(|| format!("unterminated PEM {label} block"))?
            + end.len();
        let (found, der) = pem_rfc7468::decode_vec(&block.as_bytes()[..stop])
            .map_err(|e| anyhow::anyhow!("bad PEM {label} block: {e}"))?;
        if found != label {
            bail!("expected PEM {label}, found {found}");
        }
        out.push(der);
        rest = &block[stop..];
    }
    Ok(out)
}

/// A buffered file writer with context on errors.
pub struct TextFile {
    path: PathBuf,
    out: std::io::BufWriter<fs::File>,
}

impl TextFile {
    pub fn create(path: &Path) -> Result<Self> {
        let file = fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TextFile {
            path: path.to_path_buf(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
        })
    }

    pub fn line(&mut self, args: std::fmt::Arguments<'_>) -> Result<()> {
        self.out
            .write_fmt(args)
            .and_then(|()| self.out.write_all(b"\n"))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    pub fn finish(mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// `YYMMDDHHMMSSZ`, the UTCTime form `openssl ca` keeps in its index and takes for -startdate.
pub fn utc_time(t: time::OffsetDateTime) -> Result<String> {
    let t = t.to_offset(time::UtcOffset::UTC);
    if !(1950..2050).contains(&t.year()) {
        bail!("{t} cannot be written as UTCTime");
    }
    Ok(format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}
