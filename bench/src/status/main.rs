//! `status-bench`: a batch status check (現況確認) over N registered users (1,000,000 by default),
//! by the CRL, through `honnin platform serve`, beside the peer: a plain SQL join of the same data
//! in the same database. For SQLite and PostgreSQL.
//!
//! Set-up (untimed): a sandbox authority with a few real cards, some revoked (so the CRL has real
//! entries that match users); a platform over each database; N users seeded straight into its
//! tables (the first ones carry the real cards' serials, the rest random serials that are on no CRL).
//! Timed: `POST /v1/status-checks {"all": true, "method": "crl"}` until `done`, progress on stderr;
//! then the peer: `INSERT INTO peer_results SELECT … FROM user_certificates LEFT JOIN crl_entries …`
//! (one result row per certificate), the CRL's serials loaded into `crl_entries` beforehand.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use sqlx::Row;

#[derive(Parser)]
#[command(about = "Batch status check over many users vs a plain SQL join (SQLite and PostgreSQL)")]
struct Args {
    /// Users to register and check.
    #[arg(long, default_value_t = 1_000_000)]
    users: u64,
    /// Databases to run on: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    databases: Vec<String>,
    /// PostgreSQL admin URL (a database is created and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// The honnin binary.
    #[arg(long, default_value = "target/release/honnin")]
    honnin: PathBuf,
    /// Keep the material here (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn honnin(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    if !out.status.success() {
        bail!("honnin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn serve(bin: &Path, args: &[&str]) -> Result<Server> {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .context("no listening line")?
        .to_owned();
    Ok(Server(child, url))
}

fn serial_of(bin: &Path, authority: &str, resident: &str, which: &str, dir: &Path) -> Result<String> {
    let out = dir.join(format!("{resident}-{which}.der"));
    honnin(
        bin,
        &[
            "authority",
            "cert",
            "export",
            "--data",
            authority,
            "--resident",
            resident,
            "--which",
            which,
            "--out",
            &out.display().to_string(),
        ],
    )?;
    let der = std::fs::read(&out)?;
    let ee = honnin_profile::parse::parse_end_entity(&der).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!("{:X}", ee.info().serial.to_u64().context("serial > 64 bits")?))
}

/// The running authority, the verifier's id and secret, the cards' (sign, auth) serials, and every
/// serial on the CRLs.
struct Authority {
    server: Server,
    verifier_id: String,
    secret: String,
    cards: Vec<(String, String)>,
    revoked: Vec<String>,
}

/// The authority: 40 residents with cards; 10 moved, 5 died, 5 lost their card.
fn authority(bin: &Path, dir: &Path) -> Result<Authority> {
    let a = dir.join("authority").display().to_string();
    honnin(bin, &["authority", "init", "--data", &a])?;
    let v: Value = serde_json::from_str(&honnin(
        bin,
        &[
            "authority",
            "verifier",
            "add",
            "--data",
            &a,
            "--name",
            "bench",
            "--json",
        ],
    )?)?;
    let mut cards = Vec::new();
    for i in 0..40 {
        let r = honnin(
            bin,
            &[
                "authority",
                "resident",
                "add",
                "--data",
                &a,
                "--name",
                "山田　太郎",
                "--address",
                "東京都清瀬市中里五丁目８４２番地",
                "--birth-date",
                "1980-04-01",
                "--sex",
                "male",
                "--prefecture",
                "Tokyo-to",
                "--municipality",
                "Kiyose-shi",
            ],
        )?
        .trim()
        .to_owned();
        let card = dir.join(format!("card{i}.json")).display().to_string();
        honnin(
            bin,
            &[
                "authority",
                "card",
                "issue",
                "--data",
                &a,
                "--resident",
                &r,
                "--out",
                &card,
                "--auth-pin",
                "1234",
                "--sign-password",
                "ABC123",
            ],
        )?;
        cards.push((
            serial_of(bin, &a, &r, "sign", dir)?,
            serial_of(bin, &a, &r, "auth", dir)?,
        ));
        let event: &[&str] = match i {
            0..10 => &["address-change", "--address", "東京都清瀬市元町一丁目１番地"],
            10..15 => &["death"],
            15..20 => &["card-lost"],
            _ => &[],
        };
        if !event.is_empty() {
            let mut args = vec!["authority", "event", "--data", &a, "--resident", &r];
            args.extend_from_slice(event);
            honnin(bin, &args)?;
        }
    }
    let server = serve(bin, &["authority", "serve", "--data", &a, "--listen", "127.0.0.1:0"])?;
    // The CRLs' serials, for the peer.
    let mut revoked = Vec::new();
    for h in ["sign", "auth"] {
        let crl = reqwest::blocking::get(format!("{}/crl/{h}.crl", server.1))?.bytes()?;
        let path = dir.join(format!("{h}.crl"));
        std::fs::write(&path, &crl)?;
        let text = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&path)
            .output()?;
        for line in String::from_utf8_lossy(&text.stdout).lines() {
            if let Some(s) = line.trim().strip_prefix("Serial Number: ") {
                revoked.push(s.trim_start_matches('0').to_ascii_uppercase());
            }
        }
    }
    Ok(Authority {
        server,
        verifier_id: v["id"].as_str().context("id")?.to_owned(),
        secret: v["secret"].as_str().context("secret")?.to_owned(),
        cards,
        revoked,
    })
}

async fn seed(url: &str, tenant: &str, users: u64, cards: &[(String, String)], revoked: &[String]) -> Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?;
    let mut rng_state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        (rng_state >> 1) | (1 << 62)
    };
    const CHUNK: u64 = 500;
    let mut i = 0;
    while i < users {
        let n = CHUNK.min(users - i);
        let mut tx = pool.begin().await?;
        let mut u_sql = String::from("INSERT INTO users (tenant_id, id, created_at) VALUES ");
        let mut c_sql = String::from(
            "INSERT INTO user_certificates (tenant_id, hierarchy, serial, user_id, learnt_at, learnt_by) VALUES ",
        );
        for k in 0..n {
            let id = format!("usr_bench{:08}", i + k);
            let (sign, auth) = match cards.get((i + k) as usize) {
                Some((s, a)) => (s.clone(), a.clone()),
                None => (format!("{:X}", next()), format!("{:X}", next())),
            };
            let sep = if k == 0 { "" } else { "," };
            u_sql += &format!("{sep}('{tenant}', '{id}', 0)");
            c_sql += &format!("{sep}('{tenant}', 'sign', '{sign}', '{id}', 0, 'bench'),('{tenant}', 'auth', '{auth}', '{id}', 0, 'bench')");
        }
        sqlx::query(&u_sql).execute(&mut *tx).await?;
        sqlx::query(&c_sql).execute(&mut *tx).await?;
        tx.commit().await?;
        i += n;
    }
    sqlx::query("CREATE TABLE crl_entries (serial TEXT PRIMARY KEY)")
        .execute(&pool)
        .await?;
    for s in revoked {
        sqlx::query("INSERT INTO crl_entries (serial) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(s)
            .execute(&pool)
            .await?;
    }
    sqlx::query("CREATE TABLE peer_results (user_id TEXT, hierarchy TEXT, revoked BIGINT)")
        .execute(&pool)
        .await?;
    // Statistics for the planner, as autovacuum (PostgreSQL) or `ANALYZE` would have them on a
    // database that grew to this size: seeded in one go, the tables still look empty to the
    // planner, and every batch's `IN (…)` lookups would scan a million rows.
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    Ok(())
}

async fn peer(url: &str, tenant: &str) -> Result<(Duration, i64)> {
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?;
    let started = Instant::now();
    let rows = sqlx::query(
        "INSERT INTO peer_results (user_id, hierarchy, revoked) SELECT c.user_id, c.hierarchy, \
         CASE WHEN r.serial IS NULL THEN 0 ELSE 1 END FROM user_certificates c LEFT JOIN crl_entries r ON r.serial = c.serial \
         WHERE c.tenant_id = $1",
    )
    .bind(tenant)
    .execute(&pool)
    .await?
    .rows_affected();
    let took = started.elapsed();
    let revoked: i64 = sqlx::query("SELECT COUNT(*) AS n FROM peer_results WHERE revoked = 1")
        .fetch_one(&pool)
        .await?
        .try_get("n")?;
    pool.close().await;
    if rows == 0 {
        bail!("the peer join found no rows");
    }
    Ok((took, revoked))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.work_dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let bin = &args.honnin;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    eprintln!("... authority with 40 cards (20 revoked)");
    let Authority {
        server: authority,
        verifier_id: vid,
        secret,
        cards,
        revoked,
    } = authority(bin, &dir)?;
    println!(
        "status-bench: {} users, CRL method, {} CRL entries",
        args.users,
        revoked.len()
    );
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut rows = Vec::new();
    for db in &args.databases {
        let p = dir.join(format!("platform-{db}")).display().to_string();
        let (url, pg_name) = match db.as_str() {
            "sqlite" => (format!("sqlite://{p}/platform.db?mode=rwc"), None),
            "postgres" => {
                let name = format!("honnin_status_bench_{}", std::process::id());
                let out = Command::new("psql")
                    .args([&args.postgres, "-qc", &format!("CREATE DATABASE {name}")])
                    .output()?;
                if !out.status.success() {
                    bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
                }
                let base = args.postgres.rsplit_once('/').map(|(b, _)| b).unwrap_or(&args.postgres);
                (format!("{base}/{name}"), Some(name))
            }
            other => bail!("unknown database {other}"),
        };
        let mut init = vec![
            "platform",
            "init",
            "--data",
            &p,
            "--authority",
            &authority.1,
            "--verifier-id",
            &vid,
            "--revocation",
            "crl",
        ];
        let secret_arg = format!("--verifier-secret={secret}");
        init.push(&secret_arg);
        if db == "postgres" {
            init.extend(["--database", &url]);
        }
        honnin(bin, &init)?;
        let t: Value = serde_json::from_str(&honnin(
            bin,
            &["platform", "tenant", "add", "--data", &p, "--name", "bench", "--json"],
        )?)?;
        let tenant = t["id"].as_str().context("tenant")?.to_owned();
        let key = t["api_key"].as_str().context("key")?.to_owned();
        eprintln!("... {db}: seeding {} users", args.users);
        let seeded = Instant::now();
        rt.block_on(seed(&url, &tenant, args.users, &cards, &revoked))?;
        eprintln!("... {db}: seeded in {:.1} s", seeded.elapsed().as_secs_f64());
        let platform = serve(bin, &["platform", "serve", "--data", &p, "--listen", "127.0.0.1:0"])?;
        let started = Instant::now();
        let job: Value = http
            .post(format!("{}/v1/status-checks", platform.1))
            .bearer_auth(&key)
            .json(&json!({ "all": true, "method": "crl" }))
            .send()?
            .json()?;
        let id = job["id"].as_str().context("job id")?.to_owned();
        let v = loop {
            std::thread::sleep(Duration::from_millis(1000));
            let v: Value = http
                .get(format!("{}/v1/status-checks/{id}?limit=1", platform.1))
                .bearer_auth(&key)
                .send()?
                .json()?;
            let done = v["done"].as_i64().unwrap_or(0);
            eprintln!(
                "... {db}: {done}/{} users checked, {:.0}/s",
                v["total"],
                done as f64 / started.elapsed().as_secs_f64()
            );
            if v["state"] != "running" {
                break v;
            }
        };
        let took = started.elapsed();
        if v["state"] != "done" || v["done"] != v["total"] {
            bail!("the job did not finish: {v}");
        }
        drop(platform);
        let (peer_took, peer_revoked) = rt.block_on(peer(&url, &tenant))?;
        let rate = args.users as f64 / took.as_secs_f64();
        let peer_rate = args.users as f64 / peer_took.as_secs_f64();
        rows.push(format!(
            "{db:9} | platform status check {:>8.1} s {:>10.0} users/s | SQL join {:>6.2} s {:>11.0} users/s ({} revoked certificates found) | ratio {:.3}x",
            took.as_secs_f64(),
            rate,
            peer_took.as_secs_f64(),
            peer_rate,
            peer_revoked,
            rate / peer_rate
        ));
        if let Some(name) = pg_name {
            let _ = Command::new("psql")
                .args([
                    &args.postgres,
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
    println!(
        "database  | honnin (interpret + store + events, through the API)      | peer (one join, no interpretation)"
    );
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
