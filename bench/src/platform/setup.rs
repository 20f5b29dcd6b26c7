//! Untimed set-up through the `honnin` release binary: an authority, holders with cards and
//! consents, platforms over SQLite or a fresh PostgreSQL database, a tenant. Servers are child
//! processes on loopback, killed when dropped (also when the benchmark fails).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub const PIN: &str = "1234";
pub const PASSWORD: &str = "ABC123";

/// A progress note on stderr, so stdout holds only results.
pub fn progress(what: &str) {
    eprintln!("... {what}");
}

pub struct Honnin {
    pub bin: PathBuf,
}

impl Honnin {
    /// Runs `honnin ARGS`; a failure is an error with its stderr. Returns stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.bin)
            .args(args)
            .env_remove("HONNIN_PIN")
            .env_remove("HONNIN_SIGN_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "honnin {} failed: {}",
                args.iter().take(4).copied().collect::<Vec<_>>().join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8(out.stdout).context("honnin printed non-UTF-8")
    }

    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let text = self.run(args)?;
        serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))
    }
}

/// A server child process, killed on drop. Its stderr (and stdout after the listening line) go to
/// a log file in the work directory.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(honnin: &Honnin, args: &[&str], log: &Path, env: &[(&str, &str)]) -> Result<Server> {
        let err = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(&honnin.bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start honnin {}", args.join(" ")))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).context("reading the listening line")?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "honnin {}: no listening line (got {line:?}); see {}",
                args.join(" "),
                log.display()
            );
        };
        let addr = addr
            .trim_start_matches("http://")
            .parse()
            .context("listening address")?;
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        Ok(Server { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The authority, registered verifier and holders.
pub struct World {
    pub authority: Server,
    pub verifier_id: String,
    pub verifier_secret: String,
    /// Card files.
    pub cards: Vec<PathBuf>,
}

pub fn world(honnin: &Honnin, work: &Path, holders: usize) -> Result<World> {
    let a = work.join("authority");
    let a_s = a.display().to_string();
    progress("authority init");
    honnin.run(&["authority", "init", "--data", &a_s])?;
    let v = honnin.json(&[
        "authority",
        "verifier",
        "add",
        "--data",
        &a_s,
        "--name",
        "platform-bench",
        "--json",
    ])?;
    let verifier_id = v["id"].as_str().context("verifier id")?.to_owned();
    let verifier_secret = v["secret"].as_str().context("verifier secret")?.to_owned();
    progress(&format!("{holders} residents with cards and linking consents"));
    let mut cards = Vec::new();
    for i in 0..holders {
        let resident = honnin
            .run(&[
                "authority",
                "resident",
                "add",
                "--data",
                &a_s,
                "--name",
                "髙山　花子",
                "--address",
                "東京都清瀬市中里五丁目８４２番地",
                "--birth-date",
                "1990-01-02",
                "--sex",
                "female",
                "--prefecture",
                "Tokyo-to",
                "--municipality",
                "Kiyose-shi",
            ])?
            .trim()
            .to_owned();
        let card = work.join(format!("card-{i:02}.json"));
        let card_s = card.display().to_string();
        honnin.run(&[
            "authority",
            "card",
            "issue",
            "--data",
            &a_s,
            "--resident",
            &resident,
            "--out",
            &card_s,
            "--auth-pin",
            PIN,
            "--sign-password",
            PASSWORD,
        ])?;
        honnin.run(&[
            "authority",
            "consent",
            "add",
            "--data",
            &a_s,
            "--resident",
            &resident,
            "--verifier",
            &verifier_id,
        ])?;
        cards.push(card);
    }
    progress("authority serve");
    let authority = Server::start(
        honnin,
        &["authority", "serve", "--data", &a_s, "--listen", "127.0.0.1:0"],
        &work.join("authority.log"),
        &[],
    )?;
    Ok(World {
        authority,
        verifier_id,
        verifier_secret,
        cards,
    })
}

/// A PostgreSQL database made for one run, dropped at the end.
pub struct PgDatabase {
    admin: String,
    pub name: String,
    pub url: String,
}

fn psql(admin: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args([admin, "-v", "ON_ERROR_STOP=1", "-q", "-At", "-c", sql])
        .output()
        .context("cannot run psql (apt-get install postgresql-client)")?;
    if !out.status.success() {
        bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl PgDatabase {
    pub fn create(admin: &str) -> Result<PgDatabase> {
        let mut rand = [0u8; 6];
        aws_lc_rs::rand::fill(&mut rand).map_err(|_| anyhow::anyhow!("no random bytes"))?;
        let name = format!("honnin_bench_{}", hex::encode(rand));
        psql(admin, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("cannot create a PostgreSQL database at {admin} (is PostgreSQL running?)"))?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        Ok(PgDatabase {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// The backend processes serving this database now.
    pub fn backends(&self) -> Result<Vec<u32>> {
        let out = psql(
            &self.admin,
            &format!("SELECT pid FROM pg_stat_activity WHERE datname = '{}'", self.name),
        )?;
        Ok(out.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    pub fn version(&self) -> String {
        psql(&self.admin, "SHOW server_version")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A platform over one database, serving, with one tenant.
pub struct PlatformUnderTest {
    pub server: Server,
    pub dir: PathBuf,
    pub api_key: String,
    pub pg: Option<PgDatabase>,
}

pub fn platform(
    honnin: &Honnin,
    world: &World,
    work: &Path,
    database: &str,
    revocation: &str,
    pg_admin: &str,
) -> Result<PlatformUnderTest> {
    let dir = work.join(format!("platform-{database}-{revocation}"));
    let d = dir.display().to_string();
    let pg = match database {
        "postgres" => Some(PgDatabase::create(pg_admin)?),
        _ => None,
    };
    progress(&format!("platform init over {database}, revocation {revocation}"));
    let authority = world.authority.url();
    // `=`: a secret may begin with `-`.
    let secret = format!("--verifier-secret={}", world.verifier_secret);
    let mut init = vec![
        "platform",
        "init",
        "--data",
        &d,
        "--authority",
        &authority,
        "--verifier-id",
        &world.verifier_id,
        &secret,
        "--revocation",
        revocation,
    ];
    if let Some(pg) = &pg {
        init.extend(["--database", &pg.url]);
    }
    honnin.run(&init)?;
    let t = honnin.json(&[
        "platform",
        "tenant",
        "add",
        "--data",
        &d,
        "--name",
        "Bench Bank",
        "--json",
    ])?;
    let api_key = t["api_key"].as_str().context("api_key")?.to_owned();
    let log = work.join(format!("platform-{database}-{revocation}.log"));
    let server = Server::start(
        honnin,
        &["platform", "serve", "--data", &d, "--listen", "127.0.0.1:0"],
        &log,
        &[],
    )?;
    Ok(PlatformUnderTest {
        server,
        dir,
        api_key,
        pg,
    })
}
