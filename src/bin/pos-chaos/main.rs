//! `pos-chaos`: the chaos suite (docs/chaos.md). It starts the standalone Stripe simulator and one
//! or two built `pos-backend serve` instances, drives concurrent POS sales through a client that
//! follows the README's retry rules while Stripe faults are injected and instances are SIGKILLed
//! and restarted at seeded random points, reconciles, then checks the invariants against the
//! simulator's own state, our API and the merchant webhooks received. Exit status: 0 without
//! violations, 1 with violations, 2 when the run itself could not be carried out.

mod checks;
mod client;
mod cluster;
mod receiver;
mod sales;

use clap::{Parser, ValueEnum};
use client::{Api, Reply, Stats};
use cluster::{poll, Cluster, Database, Targets};
use pos_backend::auth::{AccountsClaim, Authenticator, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use stripe_client::secret::Secret;

#[derive(Clone, Copy, ValueEnum)]
enum DatabaseKind {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
#[command(
    name = "pos-chaos",
    about = "Chaos suite: concurrent POS sales under Stripe faults and SIGKILLs, then invariant checks"
)]
struct Options {
    /// Sales to make.
    #[arg(long, default_value_t = 300)]
    sales: u64,
    /// Tills selling at once (one simulated reader each).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Backend instances (2 share one PostgreSQL database).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=2))]
    instances: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    database: DatabaseKind,
    /// SIGKILLs (each followed by a restart of the instance), at random sales.
    #[arg(long, default_value_t = 3)]
    kills: u64,
    /// Seed of every random choice (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Injected Stripe faults per sale (5xx, 429, hang past the timeout, dropped webhooks).
    #[arg(long, default_value_t = 0.15)]
    fault_rate: f64,
    /// How long the client retries one request before it gives up.
    #[arg(long, default_value_t = 30)]
    op_deadline_secs: u64,
    /// The `pos-backend` binary (default: next to this one).
    #[arg(long)]
    backend_bin: Option<PathBuf>,
    /// The PostgreSQL server (a fresh database is created on it and dropped at the end).
    #[arg(
        long,
        env = "CHAOS_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres_url: String,
    /// Examples printed per violation kind.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Keep the run's folder (logs, SQLite database) instead of deleting it.
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    let options = Options::parse();
    match actix_web::rt::System::new().block_on(run(options)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pos-chaos: error: {e}");
            ExitCode::from(2)
        }
    }
}

const SCOPES: &str = "accounts:admin payments:read payments:write cards:read cards:write terminal";

/// One planned Stripe fault, as `POST /_sim/faults` takes it, with its kind for the figures.
fn plan_fault(rng: &mut StdRng) -> (&'static str, Value) {
    // Paths only the backends call (the readers' calls are not faulted).
    const POSTS: [&str; 6] = [
        "/v1/payment_intents",
        "/v1/payment_intents/*/capture",
        "/v1/payment_intents/*/cancel",
        "/v1/refunds",
        "/v1/customers",
        "/v1/payment_methods/*/attach",
    ];
    let path = POSTS[rng.gen_range(0..POSTS.len())];
    let status = [500, 502, 503][rng.gen_range(0..3)];
    let events = ["payment_intent.*", "charge.*", "payment_method.*"][rng.gen_range(0..3)];
    match rng.gen_range(0..5) {
        0 | 1 => (
            "stripe_5xx",
            json!({"method": "POST", "path": path, "error_rate": 1.0,
                   "error_status": status, "times": rng.gen_range(1..=3)}),
        ),
        2 => (
            "stripe_429",
            json!({"method": "POST", "path": path, "rate_limit_rate": 1.0, "times": rng.gen_range(1..=3)}),
        ),
        3 => (
            "stripe_timeout_after_done",
            json!({"method": "POST", "path": path, "times": 1,
                   "hang_ms": cluster::STRIPE_TIMEOUT_SECS * 1000 + 500}),
        ),
        _ => (
            "dropped_webhooks",
            json!({"path": events,
                   "drop_webhooks": true, "times": rng.gen_range(1..=3)}),
        ),
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn run(o: Options) -> Result<usize, String> {
    let started = Instant::now();
    let seed = o.seed.unwrap_or_else(|| rand::thread_rng().gen());
    if o.instances == 2 && matches!(o.database, DatabaseKind::Sqlite) {
        return Err(
            "--instances 2 needs --database postgres (instances share one database)".into(),
        );
    }
    if !(0.0..=10.0).contains(&o.fault_rate) {
        return Err("--fault-rate must be between 0 and 10".into());
    }
    let bin = match &o.backend_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("pos-backend"),
    };
    if !bin.is_file() {
        return Err(format!(
            "{} not found: build it first (cargo build --release --bins)",
            bin.display()
        ));
    }
    let database = match o.database {
        DatabaseKind::Sqlite => Database::Sqlite,
        DatabaseKind::Postgres => Database::Postgres {
            server: o.postgres_url.trim_end_matches('/').to_string(),
        },
    };
    let dir = std::env::temp_dir().join(format!("pos-chaos-{seed}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "pos-chaos: seed {seed}, {} sales, concurrency {}, {} instance(s) on {}, {} kill(s), fault rate {} (folder {})",
        o.sales,
        o.concurrency,
        o.instances,
        match o.database {
            DatabaseKind::Sqlite => "SQLite",
            DatabaseKind::Postgres => "PostgreSQL",
        },
        o.kills,
        o.fault_rate,
        dir.display()
    );

    let targets: Targets = Arc::new(RwLock::new(vec![None; o.instances as usize]));
    let received = Arc::new(receiver::Received::default());
    let relay = receiver::start(received.clone(), targets.clone())?;
    let (cluster, jwt_secret) = Cluster::start(
        bin,
        dir.clone(),
        database,
        targets.clone(),
        &format!("{relay}/stripe"),
        seed,
    )
    .await?;
    let result = drive(&o, seed, started, cluster, &jwt_secret, &relay, received).await;
    if o.keep {
        println!("pos-chaos: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// Everything after the processes are up; stops them before returning.
async fn drive(
    o: &Options,
    seed: u64,
    started: Instant,
    mut cluster: Cluster,
    jwt_secret: &str,
    relay: &str,
    received: Arc<receiver::Received>,
) -> Result<usize, String> {
    let stats = Arc::new(Stats::default());
    let api = Api::new(
        cluster.targets.clone(),
        stats.clone(),
        Duration::from_secs(o.op_deadline_secs),
    );
    let sim_url = cluster.sim_url.clone();
    let mut rng = StdRng::seed_from_u64(seed);

    // Merchants, each with its webhook endpoint here.
    let auth = Authenticator::hs256(&Secret::new(jwt_secret.to_string()));
    let scopes: Vec<Scope> = SCOPES.split(' ').filter_map(Scope::parse).collect();
    let mut accounts = Vec::new();
    for id in [format!("chaos-{seed}-a"), format!("chaos-café-{seed}-b")] {
        let token = auth.issue(
            "pos-chaos",
            AccountsClaim::List(vec![id.clone()]),
            &scopes,
            6 * 3600,
        )?;
        let body = json!({"default_currency": "usd", "display_name": "Chaos ☕",
                          "webhook_url": format!("{relay}/merchant/{}", encode(&id))});
        let answer = api
            .call(
                &mut rng,
                Method::PUT,
                &format!("/v1/accounts/{}", encode(&id)),
                &token,
                Some(&body),
                None,
            )
            .await;
        let Reply::Ok(account) = answer else {
            cluster.stop();
            return Err(format!("PUT /v1/accounts/{id}: {answer:?}"));
        };
        let secret = account["webhook_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        received
            .secrets
            .lock()
            .expect("secrets")
            .insert(id.clone(), secret);
        accounts.push((id, token));
    }
    let mut readers = Vec::new();
    for n in 0..o.concurrency.max(1) {
        let label = format!("Till {n}");
        let (status, reader) = api
            .sim_post(
                &mut rng,
                &sim_url,
                "/v1/terminal/readers",
                &[("registration_code", "simulated-wpe"), ("label", &label)],
            )
            .await;
        match reader["id"].as_str() {
            Some(id) if status == 200 => readers.push(id.to_string()),
            _ => {
                cluster.stop();
                return Err(format!("registering a reader: {status} {reader}"));
            }
        }
    }

    // The plan: which sales trigger a kill, which inject which faults.
    let window = (o.sales / 10)..(o.sales * 9 / 10).max(o.sales / 10 + 1);
    let mut kill_at: HashSet<u64> = HashSet::new();
    while (kill_at.len() as u64) < o.kills.min(window.end - window.start) {
        kill_at.insert(rng.gen_range(window.clone()));
    }
    let mut fault_plan: HashMap<u64, Vec<(&'static str, Value)>> = HashMap::new();
    let fault_count = (o.fault_rate * o.sales as f64).round() as u64;
    for _ in 0..fault_count {
        let at = rng.gen_range(0..o.sales.max(1));
        fault_plan.entry(at).or_default().push(plan_fault(&mut rng));
    }

    // Kills happen in their own task, which owns the cluster meanwhile.
    let (kill_tx, mut kill_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut kill_rng = StdRng::seed_from_u64(seed ^ 0xC0FFEE);
    let killer = actix_web::rt::spawn(async move {
        let mut kills = 0u64;
        let mut error = None;
        while kill_rx.recv().await.is_some() {
            let i = kill_rng.gen_range(0..cluster.instance_count());
            match cluster.kill_and_restart(i).await {
                Ok(()) => kills += 1,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        (cluster, kills, error)
    });

    let ledger = sales::Ledger::default();
    let next = AtomicU64::new(0);
    let faults_injected: std::sync::Mutex<BTreeMap<&'static str, u64>> = Default::default();
    let customers_per_account = (o.sales / 20).clamp(3, 500);
    let tills = readers.iter().map(|reader| {
        let till = sales::Till {
            api: &api,
            sim_url: &sim_url,
            reader: reader.clone(),
            accounts: &accounts,
            ledger: &ledger,
            seed,
            customers_per_account,
        };
        let (next, fault_plan, kill_at, kill_tx, faults_injected, api, sim_url) = (
            &next,
            &fault_plan,
            &kill_at,
            kill_tx.clone(),
            &faults_injected,
            &api,
            &sim_url,
        );
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= o.sales {
                    return;
                }
                for (kind, rule) in fault_plan.get(&i).into_iter().flatten() {
                    let url = format!("{sim_url}/_sim/faults");
                    if api.sim_admin(Method::POST, &url, Some(rule)).await.is_ok() {
                        *faults_injected
                            .lock()
                            .expect("faults")
                            .entry(kind)
                            .or_default() += 1;
                    }
                }
                if kill_at.contains(&i) {
                    let _ = kill_tx.send(());
                }
                if (i + 1) % (o.sales / 10).max(1) == 0 {
                    eprintln!(
                        "pos-chaos: {} sales started, {:.0?}",
                        i + 1,
                        started.elapsed()
                    );
                }
                till.sale(i).await;
            }
        }
    });
    futures_util::future::join_all(tills).await;
    drop(kill_tx);
    let selling = started.elapsed();
    let (cluster, kills, kill_error) = killer.await.map_err(|e| e.to_string())?;
    let settled = settle(&api, &mut rng, &cluster, &accounts).await;
    let (reconciled, undelivered) = match (kill_error, settled) {
        (Some(e), _) | (None, Err(e)) => {
            cluster.stop();
            return Err(e);
        }
        (None, Ok(s)) => s,
    };

    let sales = std::mem::take(&mut *ledger.sales.lock().expect("sales"));
    let saved = std::mem::take(&mut *ledger.cards.lock().expect("cards"));
    let deliveries = received.deliveries.lock().expect("deliveries").clone();
    let observed = checks::observe(
        &api,
        &mut rng,
        &sim_url,
        &accounts,
        &sales,
        deliveries,
        undelivered,
    )
    .await;
    cluster.stop();
    let observed = observed?;
    let violations = checks::check(&observed, &sales, &saved, &accounts);

    // Figures.
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &sales {
        *kinds.entry(s.kind).or_default() += 1;
    }
    let captured = sales.iter().filter(|s| s.captured.is_some()).count();
    let voided = sales.iter().filter(|s| s.voided).count();
    let refunded = sales.iter().filter(|s| s.refunded > 0).count();
    let declined = sales.iter().filter(|s| s.told_failed.is_some()).count();
    let unique: HashSet<&str> = observed
        .deliveries
        .iter()
        .map(|d| d.event_id.as_str())
        .collect();
    println!("\n== pos-chaos figures (seed {seed}) ==");
    println!("sales            {} {kinds:?}", sales.len());
    println!("till saw         {captured} captured, {voided} voided, {refunded} refunded, {declined} told failed, {} saved cards", saved.len());
    println!(
        "requests         {} sent, {} retries, {} × 409 request_in_progress, {} gave up",
        Stats::get(&stats.requests),
        Stats::get(&stats.retries),
        Stats::get(&stats.in_progress),
        Stats::get(&stats.gave_up)
    );
    println!("kills            {kills} (SIGKILL + restart)");
    let faults = faults_injected.lock().expect("faults").clone();
    println!(
        "faults           {} {faults:?}",
        faults.values().sum::<u64>()
    );
    println!(
        "Stripe webhooks  {} relayed, {} not (no instance up or it died meanwhile)",
        received.stripe_relayed.load(Ordering::Relaxed),
        received.stripe_refused.load(Ordering::Relaxed)
    );
    println!(
        "merchant events  {} received, {} distinct",
        observed.deliveries.len(),
        unique.len()
    );
    println!(
        "Stripe state     {} PaymentIntents; ours {} payments",
        observed.stripe.len(),
        observed.ours.len()
    );
    println!("reconcile        {reconciled} change(s)");
    println!(
        "duration         {:.1?} selling, {:.1?} in all",
        selling,
        started.elapsed()
    );
    let mut by_kind: BTreeMap<&str, Vec<&checks::Violation>> = BTreeMap::new();
    for v in &violations {
        by_kind.entry(v.kind).or_default().push(v);
    }
    println!("violations       {}", violations.len());
    for (kind, list) in &by_kind {
        println!("  {kind}: {}", list.len());
        for v in list.iter().take(o.examples) {
            println!("      {}", v.detail);
        }
    }
    Ok(violations.len())
}

/// After the sales: clears the faults, lets the simulator's webhooks land, reconciles until
/// nothing changes, and waits for the merchant events to go out. Returns the reconciler's changes
/// and the outbox rows left undelivered.
async fn settle(
    api: &Api,
    rng: &mut StdRng,
    cluster: &Cluster,
    accounts: &[(String, String)],
) -> Result<(usize, Vec<(String, Value)>), String> {
    let sim = &cluster.sim_url;
    api.sim_admin(Method::DELETE, &format!("{sim}/_sim/faults"), None)
        .await?;
    let deliveries_url = format!("{sim}/_sim/webhook_deliveries");
    poll(
        Duration::from_secs(30),
        "the simulator's webhooks",
        || async {
            let list = api.sim_admin(Method::GET, &deliveries_url, None).await?;
            let pending = list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["delivery"]["status"] == "pending");
            Ok((!pending).then_some(()))
        },
    )
    .await?;
    let mut total = 0;
    let mut passes = 0;
    loop {
        passes += 1;
        let (changes, ok, output) = cluster.reconcile()?;
        total += changes;
        if changes == 0 && ok {
            break;
        }
        if passes == 5 {
            return Err(format!(
                "reconcile still changing or failing after 5 passes: {output}"
            ));
        }
    }
    let mut undelivered = Vec::new();
    for (account, token) in accounts {
        let path = |status: &str| {
            format!(
                "/v1/webhooks/deliveries?external_account_id={}&status={status}&limit=100",
                encode(account)
            )
        };
        let pending = |rng: &mut StdRng| {
            let path = path("pending");
            let api = api.clone();
            let token = token.clone();
            let mut rng = StdRng::seed_from_u64(rng.gen());
            async move {
                match api
                    .call(&mut rng, Method::GET, &path, &token, None, None)
                    .await
                {
                    Reply::Ok(l) => Ok(l["data"].as_array().cloned().unwrap_or_default()),
                    other => Err(format!("GET {path}: {other:?}")),
                }
            }
        };
        // A delivery claimed by a killed instance waits out its lease; the documented retry
        // sends it now.
        let waited = poll(Duration::from_secs(15), "merchant deliveries", || {
            let check = pending(rng);
            async move { Ok(check.await?.is_empty().then_some(())) }
        })
        .await;
        if waited.is_err() {
            for row in pending(rng).await? {
                let id = row["id"].as_str().unwrap_or_default();
                let body = json!({"external_account_id": account});
                api.call(
                    rng,
                    Method::POST,
                    &format!("/v1/webhooks/deliveries/{id}/retry"),
                    token,
                    Some(&body),
                    None,
                )
                .await;
            }
            let _ = poll(
                Duration::from_secs(15),
                "merchant deliveries after retry",
                || {
                    let check = pending(rng);
                    async move { Ok(check.await?.is_empty().then_some(())) }
                },
            )
            .await;
        }
        for status in ["pending", "failed"] {
            let path = path(status);
            match api.call(rng, Method::GET, &path, token, None, None).await {
                Reply::Ok(l) => undelivered.extend(
                    l["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| (account.clone(), r.clone())),
                ),
                other => return Err(format!("GET {path}: {other:?}")),
            }
        }
    }
    Ok((total, undelivered))
}
