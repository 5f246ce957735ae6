//! The processes of a chaos run: the standalone Stripe simulator (`pos-backend stripe-sim`), one
//! or two `pos-backend serve` instances (killed with SIGKILL and restarted), `pos-backend
//! reconcile`, and the run's own PostgreSQL database (created fresh, dropped at the end).
//!
//! Every process listens on port 0 on loopback; its address is read from its log. Waiting is
//! polling a condition (a log line, `/healthz`) with a deadline, never a fixed sleep.

use diesel::{Connection, PgConnection, RunQueryDsl};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The base URLs of the backend instances that are up (None while one is down), shared with the
/// clients and the webhook relay.
pub type Targets = Arc<RwLock<Vec<Option<String>>>>;

/// The platform key the backends use against the simulator (any `sk_test_…` works there).
pub const STRIPE_KEY: &str = "sk_test_chaos";
/// How long one Stripe request may take before a backend gives up on it.
pub const STRIPE_TIMEOUT_SECS: u64 = 2;

/// Where the run keeps its state.
pub enum Database {
    Sqlite,
    Postgres { server: String },
}

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub sim_url: String,
    sim: Child,
    env: Vec<(String, String)>,
    instances: Vec<Instance>,
    pub targets: Targets,
    pg: Option<(String, String)>,
    /// Instance starts so far (names the log files).
    starts: u32,
}

struct Instance {
    child: Option<Child>,
}

/// Polls `check` every 20 ms until it yields a value or `deadline` passes.
pub async fn poll<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= end {
            return Err(format!("timed out after {deadline:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first `http://…` address following `marker` in the file at `path`, if written yet.
fn address_in_log(path: &Path, marker: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.find(marker)? + marker.len()..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

fn random_hex(rng: &mut impl rand::RngCore, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rng.fill_bytes(&mut raw);
    hex::encode(raw)
}

impl Cluster {
    /// Starts the simulator (delivering its webhooks to `stripe_webhook_url`), prepares the
    /// database and starts `instances` backends on it.
    pub async fn start(
        bin: PathBuf,
        dir: PathBuf,
        database: Database,
        targets: Targets,
        stripe_webhook_url: &str,
        seed: u64,
    ) -> Result<(Cluster, String), String> {
        let instances = targets.read().expect("targets").len();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        let webhook_secret = format!("whsec_{}", random_hex(&mut rng, 24));
        let jwt_secret = random_hex(&mut rng, 32);
        let sim_log = dir.join("stripe-sim.log");
        let sim = Command::new(&bin)
            .arg("stripe-sim")
            .args([
                "--listen",
                "127.0.0.1:0",
                "--webhook-url",
                stripe_webhook_url,
            ])
            .arg("--webhook-secret")
            .arg(&webhook_secret)
            .env_clear()
            .env("POS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file(&sim_log)?)
            .stderr(log_file(&dir.join("stripe-sim.err.log"))?)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let pg = match &database {
            Database::Sqlite => None,
            Database::Postgres { server } => {
                let name = format!("pos_chaos_{seed}_{}", std::process::id());
                admin(
                    server,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )?;
                admin(server, &format!("CREATE DATABASE {name}"))?;
                Some((server.clone(), name))
            }
        };
        let database_url = match &pg {
            None => dir.join("pos.db").to_string_lossy().into_owned(),
            Some((server, name)) => format!("{server}/{name}?sslmode=disable"),
        };
        let mut cluster = Cluster {
            bin,
            dir: dir.clone(),
            sim_url: String::new(),
            sim,
            env: vec![
                ("DATABASE_URL".into(), database_url),
                ("POS_JWT_SECRET".into(), jwt_secret.clone()),
                ("POS_ENCRYPTION_KEY".into(), random_hex(&mut rng, 32)),
                ("STRIPE_SECRET_KEY".into(), STRIPE_KEY.into()),
                ("STRIPE_WEBHOOK_SECRET".into(), webhook_secret),
                (
                    "STRIPE_TIMEOUT_SECS".into(),
                    STRIPE_TIMEOUT_SECS.to_string(),
                ),
                // The run reconciles at its end, explicitly: the background job stays off so
                // that what it would have hidden shows.
                ("POS_RECONCILE_INTERVAL_SECS".into(), "0".into()),
                ("POS_WORKERS".into(), "2".into()),
                // `listening on` is an info line of the app module.
                ("POS_LOG".into(), "warn,pos_backend::app=info".into()),
            ],
            instances: (0..instances).map(|_| Instance { child: None }).collect(),
            targets,
            pg,
            starts: 0,
        };
        match cluster.boot(&sim_log, instances).await {
            Ok(()) => Ok((cluster, jwt_secret)),
            Err(e) => {
                cluster.stop();
                Err(e)
            }
        }
    }

    /// Waits for the simulator, migrates and starts the instances.
    async fn boot(&mut self, sim_log: &Path, instances: usize) -> Result<(), String> {
        let cluster = self;
        let sim_url = {
            let sim = &mut cluster.sim;
            poll(
                Duration::from_secs(30),
                "the Stripe simulator's address",
                || {
                    let found = address_in_log(sim_log, "Stripe simulator on ");
                    let exited = sim.try_wait().ok().flatten();
                    async move {
                        match (found, exited) {
                            (Some(url), _) => Ok(Some(url)),
                            (None, Some(status)) => Err(format!("stripe-sim exited: {status}")),
                            (None, None) => Ok(None),
                        }
                    }
                },
            )
            .await?
        };
        cluster.sim_url = sim_url;
        cluster
            .env
            .push(("STRIPE_API_BASE".into(), cluster.sim_url.clone()));
        // Migrations once, before instances race to apply them.
        let out = cluster
            .command("migrate")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "pos-backend migrate: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        for i in 0..instances {
            cluster.start_instance(i).await?;
        }
        Ok(())
    }

    fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .arg(subcommand)
            .env_clear()
            .env("POS_DATA_DIR", &self.dir)
            .env("POS_LISTEN", "127.0.0.1:0")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Starts instance `i` and waits until it answers `/healthz`.
    async fn start_instance(&mut self, i: usize) -> Result<(), String> {
        self.starts += 1;
        let log = self
            .dir
            .join(format!("backend-{i}-start-{}.log", self.starts));
        let mut child = self
            .command("serve")
            .stdout(log_file(&self.dir.join(format!("backend-{i}.out.log")))?)
            .stderr(log_file(&log)?)
            .spawn()
            .map_err(|e| e.to_string())?;
        let http = reqwest::Client::new();
        let url = poll(Duration::from_secs(60), "a backend to listen", || {
            let found = address_in_log(&log, "listening on ");
            let exited = child.try_wait().ok().flatten();
            let http = http.clone();
            async move {
                if let Some(status) = exited {
                    return Err(format!("pos-backend serve exited: {status}"));
                }
                let Some(url) = found else { return Ok(None) };
                let healthy = http
                    .get(format!("{url}/healthz"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                Ok(healthy.then_some(url))
            }
        })
        .await?;
        self.instances[i].child = Some(child);
        self.targets.write().expect("targets")[i] = Some(url);
        Ok(())
    }

    /// SIGKILLs instance `i` (no shutdown of any kind), then starts it again.
    pub async fn kill_and_restart(&mut self, i: usize) -> Result<(), String> {
        self.targets.write().expect("targets")[i] = None;
        if let Some(mut child) = self.instances[i].child.take() {
            // std's kill is SIGKILL on Unix.
            child.kill().map_err(|e| e.to_string())?;
            child.wait().map_err(|e| e.to_string())?;
        }
        self.start_instance(i).await
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// One `pos-backend reconcile` pass; returns (changes, exit success, output).
    pub fn reconcile(&self) -> Result<(usize, bool, String), String> {
        let out = self
            .command("reconcile")
            .args(["--stuck-after", "1s", "--events-since", "2h"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let changes = text
            .lines()
            .find_map(|l| l.strip_prefix("reconciled: "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                format!(
                    "reconcile printed no summary: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        Ok((changes, out.status.success(), text))
    }

    /// Stops every process and drops the run's database (also done when dropped, so a failed or
    /// panicking run leaves no process behind).
    pub fn stop(self) {}
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            if let Some(mut child) = instance.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = self.sim.kill();
        let _ = self.sim.wait();
        if let Some((server, name)) = &self.pg {
            if let Err(e) = admin(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ) {
                eprintln!("pos-chaos: dropping {name}: {e}");
            }
        }
    }
}

fn log_file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs one statement on the server's `postgres` database.
fn admin(server: &str, sql: &str) -> Result<(), String> {
    let mut conn = PgConnection::establish(&format!("{server}/postgres?sslmode=disable"))
        .map_err(|e| format!("{server}: {e}"))?;
    diesel::sql_query(sql)
        .execute(&mut conn)
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"))
}
