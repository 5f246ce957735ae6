//! Memory of the CSV export (`GET /v1/payments/export`): the server's peak resident memory while
//! it streams an export of `EXPORT_ROWS` payments (default 100 000), next to an export of a tenth
//! of them. Constant memory means the peak does not grow with the export's size.
//!
//! `cargo bench --bench export` starts the built `pos-backend serve` as a process of its own
//! (simulator mode, a fresh SQLite database in a temporary folder; or PostgreSQL with
//! `EXPORT_BACKEND=postgres`, a fresh database on `TEST_POSTGRES_URL`), creates one payment through
//! the API, clones it in SQL to `EXPORT_ROWS` payments (a description that needs quoting on each),
//! then reads the exports (the small one first), streaming and discarding the body, and prints the
//! server's `VmHWM` (peak RSS) and `VmRSS` from `/proc/<pid>/status` before and after each.
//!
//! Without `--bench` (as `cargo test --bench export` runs it) it exports 2 000 rows: a quick smoke
//! test that keeps it compiling and checks the row counts; its figures mean nothing.

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

const ACCOUNT: &str = "export-bench";

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

enum Sql {
    Pg(PgConnection),
    Lite(SqliteConnection),
}

impl Sql {
    fn exec(&mut self, sql: &str) -> usize {
        let q = diesel::sql_query(sql);
        match self {
            Sql::Pg(c) => q.execute(c),
            Sql::Lite(c) => q.execute(c),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
    }

    fn texts(&mut self, sql: &str) -> Vec<String> {
        let q = diesel::sql_query(sql);
        let rows: Vec<TextRow> = match self {
            Sql::Pg(c) => q.load(c),
            Sql::Lite(c) => q.load(c),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
        rows.into_iter().map(|r| r.v).collect()
    }

    /// Clones the one payment `rows - 1` times (new ids, intent ids and transaction ids, the same
    /// time), in one statement.
    fn seed(&mut self, rows: u64) {
        let pg = matches!(self, Sql::Pg(_));
        let columns = self.texts(if pg {
            "SELECT CAST(column_name AS TEXT) AS v FROM information_schema.columns WHERE table_name = 'payments' ORDER BY ordinal_position"
        } else {
            "SELECT name AS v FROM pragma_table_info('payments') ORDER BY cid"
        });
        let n = rows - 1;
        let padded = if pg {
            "lpad(CAST(g AS TEXT), 9, '0')"
        } else {
            "printf('%09d', g)"
        };
        let exprs: Vec<String> = columns
            .iter()
            .map(|c| match c.as_str() {
                "id" => format!("t.id || '-' || {padded}"),
                "external_transaction_id" => format!("'bench-' || {padded}"),
                "stripe_payment_intent_id" => format!("'pi_bench' || {padded}"),
                "stripe_idempotency_key" => "NULL".to_string(),
                "description" => format!("'Flat white, \"large\" #' || {padded}"),
                // Every tenth one 1.00, for the small export.
                "amount" => "CASE WHEN g % 10 = 0 THEN 100 ELSE t.amount END".to_string(),
                other => format!("t.{other}"),
            })
            .collect();
        let (with, series) = if pg {
            (
                String::new(),
                format!("generate_series(CAST(1 AS BIGINT), {n}) AS s(g)"),
            )
        } else {
            (
                format!("WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) "),
                "s".to_string(),
            )
        };
        self.exec(&format!(
            "{with}INSERT INTO payments ({}) SELECT {} FROM payments t, {series}",
            columns.join(", "),
            exprs.join(", ")
        ));
        self.exec("ANALYZE");
    }
}

/// `VmHWM` and `VmRSS` of a process, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The server process, stopped when dropped.
struct Server {
    child: Child,
    address: String,
    env: Vec<(String, String)>,
    _folder: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(database_url: &str) -> Server {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let database_url = if database_url.is_empty() {
        folder.path().join("pos.db").display().to_string()
    } else {
        database_url.to_string()
    };
    let env = vec![
        ("DATABASE_URL".to_string(), database_url),
        ("POS_DATA_DIR".into(), folder.path().display().to_string()),
        ("POS_LISTEN".into(), "127.0.0.1:0".into()),
        ("POS_LOG".into(), "warn,pos_backend=info".into()),
        ("POS_WEBHOOK_WORKER".into(), "false".into()),
        ("POS_RECONCILE_INTERVAL_SECS".into(), "0".into()),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .arg("serve")
        .envs(env.iter().cloned())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pos-backend starts");
    // The log line that names the address (on stdout or stderr).
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(at) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(at.split_whitespace().next().unwrap_or_default().to_string());
                }
            }
        });
    }
    let address = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("pos-backend says where it listens within 60 s");
    Server {
        child,
        address: format!("http://{address}"),
        env,
        _folder: folder,
    }
}

fn token(server: &Server) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["token", "--account", ACCOUNT, "--scope"])
        .arg("accounts:admin payments:read payments:write")
        .envs(server.env.iter().cloned())
        .output()
        .expect("pos-backend token");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Streams an export, discarding it: (rows including the header, bytes, time).
async fn export(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    query: &str,
) -> (u64, u64, Duration) {
    let started = Instant::now();
    let mut response = client
        .get(format!(
            "{}/v1/payments/export?external_account_id={ACCOUNT}{query}",
            server.address
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("the export answers");
    assert_eq!(response.status(), 200);
    let (mut lines, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await.expect("the body streams") {
        bytes += chunk.len() as u64;
        // No seeded cell holds a line break: each LF ends a row.
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    (lines, bytes, started.elapsed())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rows: u64 = match std::env::var("EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) if full => n,
        _ if full => 100_000,
        _ => 2_000,
    };
    let postgres = std::env::var("EXPORT_BACKEND").is_ok_and(|b| b == "postgres");
    let pg_database = postgres.then(support::app::PgDatabase::create);
    let server = start(pg_database.as_ref().map_or("", |d| d.url.as_str()));
    let token = token(&server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    runtime.block_on(async {
        let put = client
            .put(format!("{}/v1/accounts/{ACCOUNT}", server.address))
            .bearer_auth(&token)
            .json(&serde_json::json!({"default_currency": "usd"}))
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{:?}", put.text().await);
        let intent = client
            .post(format!("{}/v1/payment/intent", server.address))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({"external_account_id": ACCOUNT, "amount": "4.50",
                "external_transaction_id": "template"}),
            )
            .send()
            .await
            .unwrap();
        assert!(intent.status().is_success(), "{:?}", intent.text().await);
    });
    let mut sql = match &pg_database {
        Some(db) => Sql::Pg(PgConnection::establish(&db.url).expect("PostgreSQL")),
        None => Sql::Lite(
            SqliteConnection::establish(&server.env[0].1).expect("the server's SQLite file"),
        ),
    };
    let seeding = Instant::now();
    sql.seed(rows);
    println!(
        "{} payments seeded in {:.1} s ({})",
        rows,
        seeding.elapsed().as_secs_f64(),
        if postgres { "postgres" } else { "sqlite" }
    );
    let pid = server.child.id();
    let (hwm, rss) = memory(pid);
    println!("server before:                 VmHWM {hwm:>8} KiB  VmRSS {rss:>8} KiB");
    // A tenth first (the 1.00 payments), then everything.
    runtime.block_on(async {
        for (label, query, want) in [
            ("a tenth: max_amount=1.00", "&max_amount=1.00", (rows - 1) / 10 + 1),
            ("all", "", rows + 1),
        ] {
            let (lines, bytes, took) = export(&client, &server, &token, query).await;
            assert_eq!(lines, want, "{label}: rows with the header");
            let (hwm, rss) = memory(pid);
            println!(
                "after export of {:>7} rows: VmHWM {hwm:>8} KiB  VmRSS {rss:>8} KiB  ({:.1} MiB in {:.2} s) [{label}]",
                lines.saturating_sub(1),
                bytes as f64 / 1_048_576.0,
                took.as_secs_f64()
            );
        }
    });
    if !full {
        println!("SMOKE RUN (no --bench): 2 000 rows; the figures mean nothing. Use cargo bench --bench export.");
    }
}
