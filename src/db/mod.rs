//! Persistence: one diesel `MultiConnection` over PostgreSQL and SQLite, chosen from the URL
//! (`postgres://…` or a SQLite file path), an r2d2 pool, embedded migrations per backend, and
//! `Db::run` to execute queries on a blocking thread.
//!
//! All SQL of the service lives under this module, one submodule per table (or tight group of
//! tables): flows, jobs and the API call functions such as [`payments::find_by_external_id`] with
//! a `&mut DbConnection`, and get rows ([`models`]) or typed outcomes ([`Inserted`]) back.
//!
//! Connections are not tested on checkout (no `SELECT 1` per hop). A PostgreSQL connection that
//! died while idle in the pool (server restart, `pg_terminate_backend`, a proxy's idle timeout)
//! fails the first statement of the next hop; [`Db::run`] then discards it and runs the hop again
//! on another connection, but only when that first statement is safe to run again (a `SELECT`, a
//! `BEGIN`, a guarded state change that a second run leaves alone). A failure after anything may
//! have been committed — a later statement, a `COMMIT`, an autocommit write — is never retried
//! (docs/decisions.md, "Dead connections").

/// `INSERT … ON CONFLICT DO NOTHING` on either backend (diesel's `MultiConnection` has no upsert
/// support of its own): the number of rows inserted, 0 when a unique index already held the row.
macro_rules! insert_or_skip {
    ($conn:expr, $insert:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg(pg) => {
                diesel::RunQueryDsl::execute($insert.on_conflict_do_nothing(), pg)
            }
            $crate::db::DbConnection::Sqlite(sqlite) => {
                diesel::RunQueryDsl::execute($insert.on_conflict_do_nothing(), sqlite)
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the backend's own connection inside a [`DbConnection`], as
/// `insert_or_skip!` does. Through the `MultiConnection` itself every execution builds the
/// statement's SQL text twice over (to find its prepared statement in the cache and to check it
/// may be cached), even when it is cached; on the concrete connection the statement's type is
/// its cache key. In the load bench that was a quarter of the CPU of the database hops, so the
/// statements of the sale's path run this way.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

pub mod accounts;
pub mod api_idempotency;
pub mod cards;
pub mod checkout_sessions;
pub mod customers;
pub mod disputes;
pub mod instances;
pub mod line_items;
pub mod models;
pub mod payment_charge_methods;
pub mod payment_history;
pub mod payment_readers;
pub mod payments;
pub mod payouts;
pub mod reader_refunds;
pub mod reader_setups;
pub mod refunds;
pub mod reports;
pub mod schema;
pub mod stripe_events;
pub mod terminal;
pub mod webhook_deliveries;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, ManageConnection, Pool, PooledConnection,
};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, QueryResult, RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] DieselError),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The closure given to [`Db::run`] panicked: a bug, not an outage (never retryable).
    #[error("database closure panicked: {0}")]
    Panicked(String),
}

/// What an insert into a table with unique indexes did: wrote the row, or found one with the same
/// unique key (a retry, or a concurrent request that wrote it first) and wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Inserted<T> {
    New(T),
    Duplicate,
}

impl<T> Inserted<T> {
    /// `Inserted::New(value)` if `count` rows were written, else `Duplicate`.
    pub(crate) fn from_count(count: usize, value: T) -> Inserted<T> {
        if count > 0 {
            Inserted::New(value)
        } else {
            Inserted::Duplicate
        }
    }
}

/// `UPDATE table SET changes WHERE filter`, prepared once per connection and then reused from
/// diesel's statement cache. diesel never caches its own `UPDATE` statements (a changeset derived
/// from a struct skips `None` fields, so the text may vary between calls) and so parses and plans
/// each one again: on the sale's path the payment's `record_state` was the most expensive
/// statement. Here the changes are a fixed tuple of `column.eq(value)` (a `None` binds NULL), so
/// the text never varies; the cache is keyed by the SQL text and bind types anyway, so another
/// text would simply be another cached statement.
pub fn update_cached<T, V, W>(
    table: T,
    filter: W,
    changes: V,
) -> CachedUpdate<T::FromClause, V::Changeset, W>
where
    T: diesel::Table,
    V: diesel::AsChangeset<Target = T>,
    W: diesel::Expression<SqlType = diesel::sql_types::Bool>,
{
    CachedUpdate {
        table: table.from_clause(),
        changes: changes.as_changeset(),
        filter,
    }
}

/// See [`update_cached`].
#[derive(Debug, Clone, Copy)]
pub struct CachedUpdate<T, C, W> {
    /// The table's `FROM` clause (its quoted name).
    table: T,
    changes: C,
    filter: W,
}

impl<T, C, W, DB> diesel::query_builder::QueryFragment<DB> for CachedUpdate<T, C, W>
where
    DB: diesel::backend::Backend,
    T: diesel::query_builder::QueryFragment<DB>,
    C: diesel::query_builder::QueryFragment<DB>,
    W: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<T, C, W> diesel::query_builder::QueryId for CachedUpdate<T, C, W> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T, C, W, Conn> RunQueryDsl<Conn> for CachedUpdate<T, C, W> {}

/// `WITH first AS (first) then`: PostgreSQL runs both statements, in one round trip and one
/// snapshot (a data-modifying `WITH` always runs to completion, read or not); the row count is
/// `then`'s. Cached like any statement of a fixed text.
pub fn with_first<A, B>(first: A, then: B) -> WithFirst<A, B> {
    WithFirst { first, then }
}

/// See [`with_first`].
#[derive(Debug, Clone, Copy)]
pub struct WithFirst<A, B> {
    first: A,
    then: B,
}

impl<A, B> diesel::query_builder::QueryFragment<diesel::pg::Pg> for WithFirst<A, B>
where
    A: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
    B: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("WITH first AS (");
        self.first.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.then.walk_ast(out.reborrow())
    }
}

impl<A, B> diesel::query_builder::QueryId for WithFirst<A, B> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<A, B, Conn> RunQueryDsl<Conn> for WithFirst<A, B> {}

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// What the statements of the current hop did, as their connection reported them. Thread-local: a
/// hop's closure runs on one blocking thread, and so do its statements and their events.
#[derive(Debug, Clone, Copy, Default)]
struct HopEvents {
    /// Statements started so far.
    statements: u32,
    /// A statement failed because the connection is gone: the pool must not hand it out again.
    lost: bool,
    /// …and that statement was the hop's first and safe to run again (`safe_to_run_again`): the
    /// hop may run again on another connection.
    retryable: bool,
}

thread_local! {
    static HOP: Cell<HopEvents> = const { Cell::new(HopEvents { statements: 0, lost: false, retryable: false }) };
}

/// Watches a PostgreSQL connection's statements for [`HopEvents`], and passes every event on to
/// the instrumentation diesel would have installed (`set_default_instrumentation`, as tests and
/// benchmarks use), told first which URL the connection was opened with.
struct HopWatch {
    inner: Option<Box<dyn Instrumentation>>,
}

impl Instrumentation for HopWatch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match &event {
            InstrumentationEvent::StartQuery { .. } => HOP.with(|hop| {
                let mut events = hop.get();
                events.statements += 1;
                hop.set(events);
            }),
            InstrumentationEvent::FinishQuery {
                query,
                error: Some(error),
                ..
            } if connection_lost(error) => HOP.with(|hop| {
                let mut events = hop.get();
                if !events.lost {
                    events.lost = true;
                    // Formatted only here, on the error path.
                    events.retryable =
                        events.statements == 1 && safe_to_run_again(&query.to_string());
                }
                hop.set(events);
            }),
            _ => {}
        }
        self.inner.on_connection_event(event);
    }
}

/// An error that says the connection is gone (closed by the server, or the statement could not
/// be sent), not that the statement was refused.
fn connection_lost(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// A statement that may run again whether or not the server ran it: a `SELECT` (outside a
/// transaction: its own, read-only), the `BEGIN` of a transaction, or a guarded state change
/// (`payments::record_state_if_unchanged`, the only statement that starts `WITH first AS
/// (UPDATE`): once it has run, the row is no longer what its guard asks for, so running it again
/// writes nothing and the hop goes on to the locked path.
fn safe_to_run_again(sql: &str) -> bool {
    let head = sql.trim_start();
    ["SELECT", "BEGIN", "WITH first AS (UPDATE"]
        .iter()
        .any(|start| {
            head.get(..start.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(start))
        })
}

/// Sets up each new connection: SQLite's pragmas; the [`HopWatch`] on PostgreSQL.
#[derive(Debug)]
struct Setup {
    url: String,
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for Setup {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        match conn {
            DbConnection::Sqlite(c) => c
                .batch_execute(
                    &format!("PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"),
                )
                .map_err(diesel::r2d2::Error::QueryError),
            DbConnection::Pg(c) => {
                let mut inner = diesel::connection::get_default_instrumentation();
                inner.on_connection_event(InstrumentationEvent::start_establish_connection(
                    &self.url,
                ));
                c.set_instrumentation(HopWatch { inner });
                Ok(())
            }
        }
    }
}

/// diesel's connection manager, which also discards a connection its hop found dead (diesel's
/// own check only looks at the transaction state, so a closed PostgreSQL connection outside a
/// transaction would go back into the pool and fail the next hop too).
#[derive(Debug)]
pub struct Manager(ConnectionManager<DbConnection>);

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        HOP.with(|hop| hop.get().lost) || self.0.has_broken(conn)
    }
}

/// The connection pool; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    /// Hops run ([`Db::run`] calls), for the benchmarks' per-request counts.
    hops: Arc<AtomicU64>,
    /// SQLite: the thread that checkpoints the WAL, shared by every `Db` on the file, until the
    /// last of them is dropped.
    _checkpoints: Option<Arc<Checkpoints>>,
}

/// How often SQLite's WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL length (frames, 4 KiB pages) from which the checkpoint thread makes the next write
/// start the WAL over (a `RESTART` checkpoint): 16 MiB.
const RESTART_WAL_AT_FRAMES: i64 = 4096;

/// How long a `RESTART` checkpoint may wait for the writer and the readers of older snapshots;
/// new writers wait behind it meanwhile, so it is short (it tries again at the next tick).
const RESTART_WAIT_MS: u32 = 20;

/// The largest size the WAL file is left at when it starts over (SQLite's
/// `journal_size_limit`): a WAL that grew past it (a long reader held it) is truncated then.
const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// Of what `PRAGMA wal_checkpoint` reports, the WAL's length in frames.
#[derive(diesel::QueryableByName, Debug)]
struct CheckpointRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    log: i64,
}

/// SQLite's checkpoints, off the request path. SQLite's default is that the commit which takes
/// the WAL past 1 000 pages copies them into the database file and syncs it, inside the request
/// that happened to commit: in the load bench one intent in ~30 took 5 ms more for it (p99
/// 4.8–5.6 ms against 1.2–2.0 ms without). The pool's connections never checkpoint
/// (`wal_autocheckpoint = 0`); this thread, on a connection of its own, runs a `PASSIVE`
/// checkpoint every [`CHECKPOINT_EVERY`] (which waits for no reader or writer), so the WAL stays
/// small and the sync happens beside the requests. One per file per process (every `Db` on the
/// file shares it); it stops when the last of them is dropped.
///
/// A `PASSIVE` checkpoint never starts the WAL over: the next writer does that only when every
/// frame is in the database file and no reader is on the WAL, which under steady traffic never
/// happens (the load bench's WAL grew by ~100 MB/s, 400 MB in four seconds, against a 6 MB
/// database: disk used for nothing, and every commit appending to new file blocks). So once the
/// WAL holds [`RESTART_WAL_AT_FRAMES`], the thread runs a `RESTART` checkpoint: it waits (at most
/// [`RESTART_WAIT_MS`], new writers waiting behind it) until the WAL is all copied and no reader
/// uses it, and the next commit writes from the WAL's start again; the file is cut back to
/// [`WAL_SIZE_LIMIT`] then.
struct Checkpoints {
    _stop: std::sync::mpsc::Sender<()>,
}

/// The checkpoint thread of each SQLite file this process has open, by canonical path: every
/// `Db` on a file (the server's pool, its heartbeat's) shares one.
static CHECKPOINTERS: std::sync::Mutex<Vec<(std::path::PathBuf, std::sync::Weak<Checkpoints>)>> =
    std::sync::Mutex::new(Vec::new());

impl Checkpoints {
    /// The running checkpoint thread of the file at `path` (which exists), or a new one.
    fn of_file(path: &str) -> Result<Arc<Checkpoints>, DbError> {
        let canonical = std::fs::canonicalize(path)
            .map_err(|e| DbError::Unavailable(format!("{path}: {e}")))?;
        let mut running = CHECKPOINTERS.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|(_, thread)| thread.strong_count() > 0);
        if let Some(shared) = running
            .iter()
            .find(|(file, _)| *file == canonical)
            .and_then(|(_, thread)| thread.upgrade())
        {
            return Ok(shared);
        }
        let started = Arc::new(Checkpoints::start(path)?);
        running.push((canonical, Arc::downgrade(&started)));
        Ok(started)
    }

    fn start(path: &str) -> Result<Checkpoints, DbError> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let path = path.to_string();
        std::thread::Builder::new()
            .name("sqlite-checkpoints".into())
            .spawn(move || {
                let mut conn = match SqliteConnection::establish(&path) {
                    Ok(conn) => conn,
                    Err(e) => return log::error!("SQLite checkpoints: cannot open {path}: {e}"),
                };
                // Background work, not a request's: kept out of any default instrumentation (the
                // benches count each request's statements with one).
                conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
                if let Err(e) =
                    conn.batch_execute(&format!("PRAGMA busy_timeout = {RESTART_WAIT_MS}"))
                {
                    return log::error!("SQLite checkpoints: {path}: {e}");
                }
                let checkpoint = |conn: &mut SqliteConnection, mode: &str| {
                    diesel::sql_query(format!("PRAGMA wal_checkpoint({mode})"))
                        .get_result::<CheckpointRow>(conn)
                };
                // Returns when the last `Db` on the file is dropped (the sender with it).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    let done = match checkpoint(&mut conn, "PASSIVE") {
                        Ok(row) if row.log >= RESTART_WAL_AT_FRAMES => {
                            checkpoint(&mut conn, "RESTART")
                        }
                        done => done,
                    };
                    match done {
                        Ok(row) => log::trace!("SQLite checkpoint of {path}: {row:?}"),
                        Err(e) => log::warn!("SQLite checkpoint of {path} failed: {e}"),
                    }
                }
            })
            .map_err(|e| DbError::Unavailable(format!("checkpoint thread: {e}")))?;
        Ok(Checkpoints { _stop: stop })
    }
}

impl Db {
    /// Opens the pool (creating the SQLite file and its folder if needed) and runs pending
    /// migrations.
    pub fn connect(url: &str, max_size: u32) -> Result<Db, DbError> {
        Db::connect_reporting(url, max_size).map(|(db, _)| db)
    }

    /// [`Db::connect`], also returning the names of the migrations this call applied (oldest
    /// first; empty when the schema was up to date), for the start-up log.
    pub fn connect_reporting(url: &str, max_size: u32) -> Result<(Db, Vec<String>), DbError> {
        let backend = Backend::from_url(url);
        let url = match backend {
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").unwrap_or(url);
                if let Some(dir) = std::path::Path::new(path).parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| DbError::Unavailable(format!("{}: {e}", dir.display())))?;
                    }
                }
                // WAL is a property of the file: switch once, before the pool opens connections.
                SqliteConnection::establish(path)
                    .and_then(|mut c| {
                        c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
                            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
                    })
                    .map_err(|e| DbError::Unavailable(format!("{path}: {e}")))?;
                path.to_string()
            }
            Backend::Postgres => url.to_string(),
        };
        let pool = Pool::builder()
            .max_size(max_size)
            // Connections are opened on demand by the thread that needs one, never by the pool's
            // background threads: a short-lived command then exits with no connection being set
            // up behind its back.
            .min_idle(Some(0))
            // …and kept once open (opening a PostgreSQL connection costs milliseconds).
            .idle_timeout(None)
            .connection_timeout(Duration::from_secs(5))
            // r2d2 would test every checkout with `SELECT 1`: one extra round trip per hop. A
            // SQLite connection is a file handle that cannot die while idle; a dead PostgreSQL
            // connection is found by the hop's first statement instead, and the hop retried
            // when that is safe (see `run`).
            .test_on_check_out(false)
            .connection_customizer(Box::new(Setup { url: url.clone() }))
            .build(Manager(ConnectionManager::<DbConnection>::new(url.clone())))
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let checkpoints = match backend {
            Backend::Sqlite => Some(Checkpoints::of_file(&url)?),
            Backend::Postgres => None,
        };
        let db = Db {
            pool,
            backend,
            hops: Arc::new(AtomicU64::new(0)),
            _checkpoints: checkpoints,
        };
        let applied = db.run_migrations()?;
        Ok((db, applied))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs pending migrations; returns how many ran. Safe to call again.
    pub fn migrate(&self) -> Result<usize, DbError> {
        self.run_migrations().map(|names| names.len())
    }

    /// Runs pending migrations; returns their names (`2026-12-07-000002_hot_path_indexes`).
    fn run_migrations(&self) -> Result<Vec<String>, DbError> {
        fn run<C: MigrationHarness<B>, B: diesel::backend::Backend>(
            c: &mut C,
            source: EmbeddedMigrations,
        ) -> diesel::migration::Result<Vec<String>> {
            let pending = c.pending_migrations(source)?;
            let names = pending.iter().map(|m| m.name().to_string()).collect();
            c.run_migrations(&pending)?;
            Ok(names)
        }
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConnection::Pg(c) => run(c, PG_MIGRATIONS),
            DbConnection::Sqlite(c) => run(c, SQLITE_MIGRATIONS),
        };
        applied.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// A pooled connection, on the current thread (blocking).
    pub fn get(&self) -> Result<PooledConn, DbError> {
        self.pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Hops run by this pool so far (each [`Db::run`], retries not counted).
    pub fn hops(&self) -> u64 {
        self.hops.load(Ordering::Relaxed)
    }

    /// Runs `f` with a connection on a blocking thread, off the async workers: one database hop.
    /// A panic in `f` is [`DbError::Panicked`] with its message.
    ///
    /// When the connection turns out to be dead (PostgreSQL: closed by the server while it sat in
    /// the pool) and `f`'s first statement, the one that found out, could not have changed
    /// anything, the connection is discarded and `f` runs again from the start on another one;
    /// again while each attempt fails that way, at most once per connection the pool can hold
    /// (after a server restart every idle connection is dead), then once more on a new one. Any
    /// other failure is `f`'s result, and a dead connection is never handed out again.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.hops.fetch_add(1, Ordering::Relaxed);
        let pool = self.pool.clone();
        let retries = match self.backend {
            Backend::Postgres => pool.max_size() + 1,
            Backend::Sqlite => 0,
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let mut f = f;
            let mut retries_left = retries;
            loop {
                let again = (retries_left > 0).then(|| f.clone());
                HOP.with(|hop| hop.set(HopEvents::default()));
                let pool = pool.clone();
                let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    // On a panic the connection is dropped while unwinding, so the pool discards
                    // it (it may be left inside a transaction) instead of handing it out again;
                    // a connection found dead is discarded when dropped (`Manager::has_broken`).
                    let mut conn = pool
                        .get()
                        .map_err(|e| DbError::Unavailable(e.to_string()))?;
                    Ok(f(&mut conn))
                }))
                .unwrap_or_else(|panic| Err(DbError::Panicked(panic_message(panic.as_ref()))));
                let events = HOP.with(|hop| hop.replace(HopEvents::default()));
                match (attempt, again) {
                    (Ok(Err(_)), Some(again)) if events.retryable => {
                        log::warn!("database connection found closed; running the hop again on another connection");
                        retries_left -= 1;
                        f = again;
                    }
                    (attempt, _) => return attempt,
                }
            }
        })
        .await;
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(E::from(e)),
            Err(e) => Err(E::from(DbError::Unavailable(e.to_string()))),
        }
    }

    /// A database round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map(|_| ())
                .map_err(DbError::from)
        })
        .await
    }
}

/// The message a panic was raised with (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => (*message).to_string(),
        (_, Some(message)) => message.clone(),
        _ => "a panic without a message".to_string(),
    }
}

/// Serialises this process's SQLite writes (see `write_transaction`, `write_alone`).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// Whether this thread holds [`SQLITE_WRITER`] (a write inside a write transaction takes it
    /// no second time).
    static HOLDS_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// This thread's turn to write on SQLite: held until dropped; `None` when the thread already
/// holds it.
struct WriterTurn {
    _guard: std::sync::MutexGuard<'static, ()>,
}

impl WriterTurn {
    fn take() -> Option<WriterTurn> {
        if HOLDS_WRITER.with(Cell::get) {
            return None;
        }
        let guard = SQLITE_WRITER.lock().unwrap_or_else(|e| e.into_inner());
        HOLDS_WRITER.with(|held| held.set(true));
        Some(WriterTurn { _guard: guard })
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        HOLDS_WRITER.with(|held| held.set(false));
    }
}

/// One write committed on its own (no transaction needed): on SQLite in this process's writer
/// turn, like [`write_transaction`]. Without it a lone `INSERT`/`UPDATE` meets a write
/// transaction of another connection in SQLite's busy handler, which sleeps 1, 2, 5… ms (seen in
/// the load bench: a customer's insert outside the writer turn put ~5 such sleeps into every
/// sale). As is on PostgreSQL.
pub fn write_alone<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    let _turn = match conn {
        DbConnection::Sqlite(_) => WriterTurn::take(),
        DbConnection::Pg(_) => None,
    };
    f(conn)
}

/// Runs `f` in a write transaction. On SQLite the transaction takes the write lock up front
/// (`BEGIN IMMEDIATE`), so concurrent writers wait instead of failing: this process's writers
/// queue on a mutex and start the moment the previous one commits (SQLite's busy handler would
/// poll, sleeping 1, 2, 5, 10… ms, while the lock is held for tens of µs); the 10 s busy timeout
/// still covers other processes.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError>,
{
    match conn {
        DbConnection::Pg(_) => {
            conn.transaction(|c| f(c).map_err(TxError::App))
                .map_err(|e: TxError<E>| match e {
                    TxError::App(e) => e,
                    TxError::Db(e) => E::from(DbError::Query(e)),
                })
        }
        DbConnection::Sqlite(_) => {
            let _turn = WriterTurn::take();
            conn.batch_execute("BEGIN IMMEDIATE")
                .map_err(DbError::from)?;
            match f(conn) {
                Ok(value) => {
                    conn.batch_execute("COMMIT").map_err(DbError::from)?;
                    Ok(value)
                }
                Err(e) => {
                    if let Err(rollback) = conn.batch_execute("ROLLBACK") {
                        log::error!("ROLLBACK failed after an aborted transaction: {rollback}");
                    }
                    Err(e)
                }
            }
        }
    }
}

/// [`write_transaction`], committed by PostgreSQL without waiting for the WAL flush
/// (`synchronous_commit = off`, set by the same round trip as `BEGIN`). Only for rows whose loss
/// in a database crash is harmless because a later, synchronous commit of the same request
/// flushes them (PostgreSQL flushes the WAL in order) and a retry recreates them — the `creating`
/// payment row before its Stripe call, an Idempotency-Key claim. Plain on SQLite.
pub fn relaxed_write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if !matches!(conn, DbConnection::Pg(_)) {
        return write_transaction(conn, f);
    }
    let db = |e: DieselError| E::from(DbError::Query(e));
    if let DbConnection::Pg(pg) = conn {
        AnsiTransactionManager::begin_transaction_sql(
            pg,
            "BEGIN; SET LOCAL synchronous_commit = off",
        )
        .map_err(db)?;
    }
    let outcome = f(conn);
    let DbConnection::Pg(pg) = conn else {
        unreachable!("checked above")
    };
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(pg).map_err(db)?;
            Ok(value)
        }
        Err(e) => match AnsiTransactionManager::rollback_transaction(pg) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(db(rollback)),
        },
    }
}

enum TxError<E> {
    App(E),
    Db(DieselError),
}

impl<E> From<DieselError> for TxError<E> {
    fn from(e: DieselError) -> Self {
        TxError::Db(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// Runs `f` on the SQLite connection inside `conn`.
    fn sqlite<T>(conn: &mut DbConnection, f: impl FnOnce(&mut SqliteConnection) -> T) -> T {
        match conn {
            DbConnection::Sqlite(c) => f(c),
            DbConnection::Pg(_) => unreachable!("a SQLite connection"),
        }
    }

    /// A migrated SQLite database in `dir` with account `a`.
    fn sqlite_with_account(dir: &tempfile::TempDir) -> DbConnection {
        let path = dir.path().join("c.db");
        let mut conn =
            DbConnection::Sqlite(SqliteConnection::establish(path.to_str().unwrap()).unwrap());
        sqlite(&mut conn, |c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
            c.batch_execute(
                "INSERT INTO accounts (id, external_account_id, default_currency, created_at, updated_at)
                 VALUES ('a', 'acme', 'usd', '2026-01-01 00:00:00', '2026-01-01 00:00:00');",
            )
            .unwrap();
        });
        conn
    }

    /// From now on, how many statements starting with `verb` diesel has put in `conn`'s statement
    /// cache (as its instrumentation reports them).
    fn count_cached(conn: &mut DbConnection, verb: &'static str) -> impl Fn() -> usize {
        use std::sync::Mutex;
        let cached = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_string());
            }
        });
        move || {
            cached
                .lock()
                .unwrap()
                .iter()
                .filter(|sql| sql.starts_with(verb))
                .count()
        }
    }

    #[test]
    fn only_reads_begins_and_guarded_state_changes_run_again() {
        assert!(safe_to_run_again("SELECT 1"));
        assert!(safe_to_run_again("  begin"));
        assert!(safe_to_run_again(
            r#"WITH first AS (UPDATE "payments" SET "status" = $1 WHERE ("payments"."id" = $2) RETURNING id) INSERT INTO payment_history"#
        ));
        assert!(!safe_to_run_again(
            r#"WITH first AS (INSERT INTO "payment_history" ("id") VALUES ($1)) UPDATE "payments""#
        ));
        assert!(!safe_to_run_again(r#"UPDATE "payments" SET "status" = $1"#));
        assert!(!safe_to_run_again(
            r#"INSERT INTO "payments" ("id") VALUES ($1)"#
        ));
        assert!(!safe_to_run_again("COMMIT"));
    }

    #[test]
    fn every_db_on_a_sqlite_file_shares_one_checkpoint_thread() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("one.db");
        let same_file = dir.path().join(".").join("one.db");
        let thread = |db: &Db| db._checkpoints.clone().expect("SQLite checkpoints");
        let pool = Db::connect(file.to_str().unwrap(), 2).unwrap();
        let heartbeat = Db::connect(same_file.to_str().unwrap(), 1).unwrap();
        assert!(Arc::ptr_eq(&thread(&pool), &thread(&heartbeat)));
        let other = Db::connect(dir.path().join("two.db").to_str().unwrap(), 1).unwrap();
        assert!(!Arc::ptr_eq(&thread(&pool), &thread(&other)));
        // Once every `Db` on the file is gone its thread stops; the next one starts another.
        let first = Arc::downgrade(&thread(&pool));
        drop((pool, heartbeat));
        assert!(
            first.upgrade().is_none(),
            "stopped with the last Db on its file"
        );
        let again = Db::connect(file.to_str().unwrap(), 1).unwrap();
        assert_eq!(
            Arc::strong_count(&thread(&again)),
            2,
            "a live one of its own"
        );
    }

    #[test]
    fn the_wal_starts_over_while_reads_and_writes_never_stop() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("busy.db");
        let path = file.to_str().unwrap().to_string();
        let db = Db::connect(&path, 2).unwrap();
        let mut writer = db.get().unwrap();
        sqlite(&mut writer, |c| {
            c.batch_execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        })
        .unwrap();
        // Readers taking turns, so that some read transaction is always open on the WAL (as
        // under steady traffic): the WAL is never fully copied with no reader on it.
        let stop = Arc::new(AtomicBool::new(false));
        let readers = {
            let (stop, path) = (stop.clone(), path.clone());
            std::thread::spawn(move || {
                let mut pair = [0, 1].map(|_| SqliteConnection::establish(&path).unwrap());
                let read = "BEGIN; SELECT id FROM filler LIMIT 1;";
                pair[0].batch_execute(read).unwrap();
                let mut open = 0;
                while !stop.load(Ordering::Relaxed) {
                    pair[1 - open].batch_execute(read).unwrap();
                    pair[open].batch_execute("COMMIT").unwrap();
                    open = 1 - open;
                }
            })
        };
        // Four times the size limit written through the WAL, 64 KiB per commit, each write
        // followed by a read on another connection (as requests do between their writes).
        let mut other = db.get().unwrap();
        let wal = dir.path().join("busy.db-wal");
        let row = 64 << 10;
        let mut largest = 0;
        for _ in 0..(4 * WAL_SIZE_LIMIT / row) {
            sqlite(&mut writer, |c| {
                diesel::sql_query("INSERT INTO filler (data) VALUES (zeroblob(65536))").execute(c)
            })
            .unwrap();
            sqlite(&mut other, |c| {
                c.batch_execute("SELECT length(data) FROM filler ORDER BY id DESC LIMIT 8")
            })
            .unwrap();
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        stop.store(true, Ordering::Relaxed);
        readers.join().unwrap();
        // A `PASSIVE` checkpoint alone leaves the WAL growing to everything written (~300 MB);
        // with restarts it stayed under 100 MB here (a restart waits for a gap between writes,
        // which this writer rarely leaves).
        assert!(
            largest <= 3 * WAL_SIZE_LIMIT,
            "the WAL grew to {largest} bytes"
        );
    }

    #[test]
    fn a_payment_insert_is_prepared_once_whichever_fields_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = sqlite_with_account(&dir);
        let inserts = count_cached(&mut conn, "INSERT");
        let first = models::Payment {
            id: "p1".into(),
            account_id: "a".into(),
            external_transaction_id: "t1".into(),
            description: Some("first".into()),
            stripe_payment_intent_id: Some("pi_1".into()),
            ..models::Payment::sample()
        };
        assert!(matches!(
            payments::insert(&mut conn, first.clone()).unwrap(),
            Inserted::New(_)
        ));
        assert_eq!(inserts(), 1, "the INSERT went into the statement cache");
        // NULLs where there were values (diesel would otherwise leave those columns out, a new
        // SQL text each time, never cached): the same statement, reused.
        let second = models::Payment {
            id: "p2".into(),
            external_transaction_id: "t2".into(),
            description: None,
            stripe_payment_intent_id: None,
            ..first.clone()
        };
        assert!(matches!(
            payments::insert(&mut conn, second.clone()).unwrap(),
            Inserted::New(_)
        ));
        assert_eq!(inserts(), 1, "the cached INSERT was reused");
        assert_eq!(payments::by_id(&mut conn, "p2").unwrap(), second);
    }

    /// A history entry of `payment` as it is.
    fn entry(payment: &models::Payment) -> models::PaymentHistory {
        models::PaymentHistory {
            id: models::new_id(),
            payment_id: payment.id.clone(),
            action: "test".into(),
            status: payment.status,
            amount: None,
            actor: "test".into(),
            created_at: models::now(),
            detail: None,
        }
    }

    #[test]
    fn a_payments_state_update_is_prepared_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = sqlite_with_account(&dir);
        let row = models::Payment {
            id: "p".into(),
            account_id: "a".into(),
            ..models::Payment::sample()
        };
        assert!(matches!(
            payments::insert(&mut conn, row.clone()).unwrap(),
            Inserted::New(_)
        ));
        let updates = count_cached(&mut conn, "UPDATE");
        let mut after = row.clone();
        after.description = Some("first".into());
        payments::record_state(&mut conn, &after, &entry(&after)).unwrap();
        assert_eq!(updates(), 1, "the UPDATE went into the statement cache");
        // Other values, NULLs where there were values: the same statement, not prepared again.
        after.description = None;
        after.stripe_charge_id = Some("ch_1".into());
        payments::record_state(&mut conn, &after, &entry(&after)).unwrap();
        assert_eq!(updates(), 1, "the cached UPDATE was reused");
        assert_eq!(payments::by_id(&mut conn, "p").unwrap(), after);
    }

    #[test]
    fn comma_joined_payment_method_types_migrate_to_a_list_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn =
            DbConnection::Sqlite(SqliteConnection::establish(path.to_str().unwrap()).unwrap());
        sqlite(&mut conn, |c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
            // Back to the schema before the list column (reverting any later migrations first),
            // with a row written then.
            while !c
                .revert_last_migration(SQLITE_MIGRATIONS)
                .unwrap()
                .to_string()
                .replace('-', "")
                .starts_with("20261207000001")
            {}
            c.batch_execute(
                "INSERT INTO accounts (id, external_account_id, default_currency, created_at, updated_at)
                 VALUES ('a', 'acme', 'cad', '2026-01-01 00:00:00', '2026-01-01 00:00:00');
                 INSERT INTO payments (id, account_id, external_transaction_id, request_fingerprint,
                     amount, currency, capture_method, payment_method_types, status,
                     amount_capturable, amount_captured, amount_refunded, created_at, updated_at)
                 VALUES ('p', 'a', 'tx', 'f', 500, 'cad', 'manual', 'card_present,interac_present',
                     'requires_payment_method', 0, 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00');",
            )
            .unwrap();
            c.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        });
        let payment = payments::by_id(&mut conn, "p").unwrap();
        assert_eq!(
            payment.payment_method_types,
            models::MethodTypes::new(["card_present", "interac_present"])
        );
        assert_eq!(
            payment.currency,
            crate::money::Currency::parse("cad").unwrap()
        );
        let account = accounts::by_id(&mut conn, "a").unwrap();
        assert_eq!(account.default_currency.code(), "cad");
        // A row written as a list reads back as the same list.
        let written = models::Payment {
            id: "q".into(),
            account_id: "a".into(),
            external_transaction_id: "tx-2".into(),
            payment_method_types: models::MethodTypes::new(["card"]),
            ..models::Payment::sample()
        };
        assert!(matches!(
            payments::insert(&mut conn, written.clone()).unwrap(),
            Inserted::New(_)
        ));
        assert_eq!(payments::by_id(&mut conn, "q").unwrap(), written);
        // The same external transaction again is a duplicate, not an error.
        assert_eq!(
            payments::insert(&mut conn, written).unwrap(),
            Inserted::Duplicate
        );
        // And the migration reverts to the comma-joined form.
        sqlite(&mut conn, |c| {
            while !c
                .revert_last_migration(SQLITE_MIGRATIONS)
                .unwrap()
                .to_string()
                .replace('-', "")
                .starts_with("20261207000001")
            {}
            #[derive(diesel::QueryableByName)]
            struct Types {
                #[diesel(sql_type = diesel::sql_types::Text)]
                payment_method_types: String,
            }
            let rows: Vec<Types> =
                diesel::sql_query("SELECT payment_method_types FROM payments ORDER BY id")
                    .load(c)
                    .unwrap();
            let types: Vec<&str> = rows
                .iter()
                .map(|r| r.payment_method_types.as_str())
                .collect();
            assert_eq!(types, ["card_present,interac_present", "card"]);
        });
    }

    #[test]
    fn amounts_load_as_minor_units_and_a_negative_one_does_not_load() {
        use crate::money::MinorUnits;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(dir.path().join("a.db").to_str().unwrap(), 1).unwrap();
        let mut conn = db.get().unwrap();
        let conn = &mut *conn;
        conn.batch_execute(
            "INSERT INTO accounts (id, external_account_id, default_currency, created_at, updated_at)
             VALUES ('a', 'acme', 'usd', '2026-01-01 00:00:00', '2026-01-01 00:00:00');",
        )
        .unwrap();
        let units = |minor| MinorUnits::new(minor).unwrap();
        let written = models::Payment {
            account_id: "a".into(),
            amount: units(99_999_999),
            amount_captured: units(1234),
            amount_refunded: units(34),
            ..models::Payment::sample()
        };
        assert!(matches!(
            payments::insert(conn, written.clone()).unwrap(),
            Inserted::New(_)
        ));
        let read = payments::by_id(conn, "p").unwrap();
        assert_eq!(read, written);
        assert_eq!(
            (read.amount_captured, read.amount_refunded),
            (units(1234), units(34))
        );
        conn.batch_execute("UPDATE payments SET amount_refunded = -1 WHERE id = 'p'")
            .unwrap();
        let e = payments::by_id(conn, "p").unwrap_err();
        assert!(e.to_string().contains("'amount_refunded'"), "{e}");
        assert!(format!("{e:?}").contains("negative amount -1"), "{e:?}");
    }

    #[tokio::test]
    async fn a_panic_in_a_database_closure_is_an_internal_error_not_an_outage() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(dir.path().join("t.db").to_str().unwrap(), 1).unwrap();
        // Panics in the middle of a write transaction.
        let result: Result<(), DbError> = db
            .run(|conn| -> Result<(), DbError> {
                conn.batch_execute("BEGIN IMMEDIATE")?;
                panic!("row invariant broken: {}", 42)
            })
            .await;
        match result {
            Err(DbError::Panicked(message)) => assert_eq!(message, "row invariant broken: 42"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        // The connection left inside that transaction is not handed out again: the next write
        // transaction (on the pool's only connection) starts and commits.
        db.run(|conn| relaxed_write_transaction(conn, |_| Ok::<_, DbError>(())))
            .await
            .unwrap();
        db.ping().await.unwrap();
        let e = Error::from(DbError::Panicked("boom".into()));
        assert_eq!(e.code, "internal_error");
        assert!(!e.retryable);
        let e = Error::from(DbError::Unavailable("down".into()));
        assert_eq!(e.code, "database_unavailable");
        assert!(e.retryable);
    }
}
