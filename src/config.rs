//! Configuration from environment variables and command-line flags. Every default works offline:
//! with nothing set, the service runs on SQLite in `./data` against the embedded Stripe simulator.

use crate::crypto::SecretBox;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stripe_client::secret::Secret;

/// Where this process keeps its files.
#[derive(Debug, Clone, Args)]
pub struct DataDirArgs {
    /// Folder for this server's files: the SQLite database pos.db (unless DATABASE_URL names
    /// another) and the generated development secrets (dev-jwt-secret, dev-encryption-key).
    #[arg(long, env = "POS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// The database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `postgres://…` for PostgreSQL, otherwise a SQLite file path (default: pos.db in the data
    /// folder).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The database URL: the one given, else the SQLite file `pos.db` in the data folder.
    pub fn url(&self, data: &DataDirArgs) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => data.data_dir.join("pos.db").to_string_lossy().into_owned(),
        }
    }
}

/// The platform's Stripe account.
#[derive(Debug, Clone, Args)]
pub struct StripeArgs {
    /// Platform Stripe secret key. Unset (`serve`): simulator mode (the embedded simulator at
    /// /sim/stripe).
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe API base URL (default https://api.stripe.com; in simulator mode, the embedded one).
    #[arg(long, env = "STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,
    /// Timeout of one Stripe request, in seconds.
    #[arg(long, env = "STRIPE_TIMEOUT_SECS", default_value_t = 30)]
    pub stripe_timeout_secs: u64,
}

impl StripeArgs {
    /// The platform key and API base, for commands that need a real (or external) Stripe.
    pub fn required(&self, command: &str) -> Result<(Secret<String>, String), String> {
        match resolve_stripe(self)? {
            StripeMode::Stripe {
                secret_key,
                api_base,
            } => Ok((secret_key, api_base)),
            StripeMode::Simulator => Err(format!(
                "{command} needs STRIPE_SECRET_KEY (or --stripe-secret-key; with \
                 STRIPE_API_BASE=http://…/sim/stripe for a running simulator)"
            )),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.stripe_timeout_secs.max(1))
    }
}

/// The key sealing merchants' secrets in the database.
#[derive(Debug, Clone, Args)]
pub struct EncryptionArgs {
    /// 32-byte key (64 hex digits or base64) encrypting merchants' Stripe keys at rest
    /// (default: generated once in the data folder, outside live mode).
    #[arg(long, env = "POS_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
}

impl EncryptionArgs {
    /// The key: the one given, else (unless `live`) the development key in the data folder.
    pub fn resolve(&self, data: &DataDirArgs, live: bool) -> Result<[u8; 32], String> {
        match &self.encryption_key {
            Some(text) => SecretBox::parse_key(text).map_err(|e| format!("POS_ENCRYPTION_KEY {e}")),
            None if live => Err("a live Stripe key requires POS_ENCRYPTION_KEY".into()),
            None => SecretBox::parse_key(&dev_secret(&data.data_dir, "dev-encryption-key", 32)?)
                .map_err(|e| {
                    format!(
                        "{}: {e}",
                        data.data_dir.join("dev-encryption-key").display()
                    )
                }),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter, env_logger syntax (e.g. `info`, `pos_backend=debug`). The default leaves out
    /// actix's own start-up lines, which the start-up block already says.
    #[arg(long, env = "POS_LOG", default_value = "info,actix_server=warn")]
    pub log: String,
}

/// How much the Stripe simulator remembers (`stripe_sim::Limits`).
#[derive(Debug, Clone, Args)]
pub struct SimLimitArgs {
    /// Simulator: requests kept in its request log (GET /_sim/requests).
    #[arg(long, env = "STRIPE_SIM_REQUEST_LOG_LIMIT", default_value_t = stripe_sim::Limits::default().request_log)]
    pub sim_request_log_limit: usize,
    /// Simulator: Idempotency-Keys remembered (each still at most 24 hours).
    #[arg(long, env = "STRIPE_SIM_IDEMPOTENCY_KEYS_LIMIT", default_value_t = stripe_sim::Limits::default().idempotency_keys)]
    pub sim_idempotency_keys_limit: usize,
    /// Simulator: events remembered (each still at most 30 days).
    #[arg(long, env = "STRIPE_SIM_EVENTS_LIMIT", default_value_t = stripe_sim::Limits::default().events)]
    pub sim_events_limit: usize,
    /// Simulator: finished objects remembered per kind (PaymentIntents, SetupIntents, Checkout
    /// Sessions); older ones answer 404.
    #[arg(long, env = "STRIPE_SIM_FINISHED_OBJECTS_LIMIT", default_value_t = stripe_sim::Limits::default().finished_objects)]
    pub sim_finished_objects_limit: usize,
}

impl SimLimitArgs {
    pub fn limits(&self) -> Result<stripe_sim::Limits, String> {
        let limits = stripe_sim::Limits {
            request_log: self.sim_request_log_limit,
            idempotency_keys: self.sim_idempotency_keys_limit,
            events: self.sim_events_limit,
            finished_objects: self.sim_finished_objects_limit,
        };
        let named = [
            ("STRIPE_SIM_REQUEST_LOG_LIMIT", limits.request_log),
            ("STRIPE_SIM_IDEMPOTENCY_KEYS_LIMIT", limits.idempotency_keys),
            ("STRIPE_SIM_EVENTS_LIMIT", limits.events),
            ("STRIPE_SIM_FINISHED_OBJECTS_LIMIT", limits.finished_objects),
        ];
        match named.iter().find(|(_, n)| *n == 0) {
            Some((name, _)) => Err(format!("{name} must be at least 1")),
            None => Ok(limits),
        }
    }
}

/// The settings of the server (`serve`, the default command).
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address the HTTP server listens on.
    #[arg(long, env = "POS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// HS256 secret for verifying (and, with `token`, issuing) JWTs.
    #[arg(long, env = "POS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with the RS256 public key for verifying JWTs (instead of a secret).
    #[arg(long, env = "POS_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub stripe: StripeArgs,
    /// Secret(s) of the platform's Stripe webhook endpoints (`whsec_…`, comma-separated: the
    /// platform endpoint's, the Connect endpoint's, and an old one while it is rotated). In
    /// simulator mode the simulator's is added.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Run the merchant-webhook delivery worker in this process.
    #[arg(long, env = "POS_WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_worker: bool,
    /// Seconds between background reconciler runs (0: not in this process).
    #[arg(long, env = "POS_RECONCILE_INTERVAL_SECS", default_value_t = 300)]
    pub reconcile_interval_secs: u64,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "POS_WORKERS")]
    pub workers: Option<usize>,
    /// Database connection pool size.
    #[arg(long, env = "POS_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
    /// Milliseconds between two heartbeats of this process (see `jobs::instances`).
    #[arg(long, env = "POS_HEARTBEAT_INTERVAL_MS", default_value_t = 5000)]
    pub heartbeat_interval_ms: u64,
    /// Milliseconds without a heartbeat after which a process is taken for dead and the
    /// Idempotency-Keys it was running are released (at least twice the interval).
    #[arg(long, env = "POS_INSTANCE_TIMEOUT_MS", default_value_t = 15000)]
    pub instance_timeout_ms: u64,
    /// The embedded simulator's memory (simulator mode only).
    #[command(flatten)]
    pub sim_limits: SimLimitArgs,
}

/// Stripe's mode from the key: none is the simulator; anything but `sk_…`/`rk_…` is refused.
fn resolve_stripe(args: &StripeArgs) -> Result<StripeMode, String> {
    match &args.stripe_secret_key {
        None => Ok(StripeMode::Simulator),
        Some(key) if key.starts_with("sk_") || key.starts_with("rk_") => Ok(StripeMode::Stripe {
            secret_key: Secret::new(key.clone()),
            api_base: args
                .stripe_api_base
                .clone()
                .unwrap_or_else(|| "https://api.stripe.com".into())
                .trim_end_matches('/')
                .to_string(),
        }),
        Some(_) => Err("STRIPE_SECRET_KEY must be a Stripe secret key (sk_… or rk_…)".into()),
    }
}

/// The HS256 secret for issuing tokens (`pos-backend token`): the one given, else the
/// development secret in the data folder (the one the server in simulator mode verifies with).
pub fn token_secret(
    jwt_secret: Option<&str>,
    data: &DataDirArgs,
) -> Result<Secret<String>, String> {
    match jwt_secret {
        Some(secret) if secret.len() < 32 => {
            Err("POS_JWT_SECRET must be at least 32 characters".into())
        }
        Some(secret) => Ok(Secret::new(secret.to_string())),
        None => Ok(Secret::new(dev_secret(
            &data.data_dir,
            "dev-jwt-secret",
            32,
        )?)),
    }
}

/// How JWTs are verified.
#[derive(Debug, Clone)]
pub enum JwtKey {
    Hs256(Secret<String>),
    Rs256PublicPem(Vec<u8>),
}

/// Where Stripe requests go.
#[derive(Debug, Clone)]
pub enum StripeMode {
    /// No key configured: the embedded simulator, mounted on this server at `/sim/stripe`.
    Simulator,
    /// A real (or external) Stripe: the platform key and the API base URL.
    Stripe {
        secret_key: Secret<String>,
        api_base: String,
    },
}

/// The resolved configuration the application runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    pub jwt: JwtKey,
    pub stripe: StripeMode,
    pub stripe_timeout: Duration,
    pub encryption_key: Secret<[u8; 32]>,
    pub workers: Option<usize>,
    pub db_pool_size: u32,
    pub stripe_webhook_secrets: Vec<Secret<String>>,
    /// Merchant-webhook delivery (None: this process delivers nothing).
    pub delivery: Option<crate::jobs::delivery::DeliveryConfig>,
    /// The background reconciler (None: not in this process).
    pub reconcile: Option<crate::jobs::reconcile::ReconcileConfig>,
    /// This process's heartbeat, which frees the Idempotency-Keys it held when it dies.
    pub instance: crate::jobs::instances::InstanceConfig,
    /// What the embedded simulator remembers (simulator mode).
    pub sim_limits: stripe_sim::Limits,
    /// The time requests stamp payments with (the system clock; tests move theirs).
    pub clock: crate::clock::Clock,
}

impl Config {
    /// Resolves flags and environment into a `Config`. A live key (`sk_live_…`) requires an
    /// explicit JWT key and encryption key; otherwise missing secrets are generated once in the
    /// data folder so that the server and `pos-backend token` agree.
    pub fn resolve(args: &ConfigArgs) -> Result<Config, String> {
        let live = args
            .stripe
            .stripe_secret_key
            .as_deref()
            .is_some_and(|k| k.starts_with("sk_live_") || k.starts_with("rk_live_"));
        let stripe = resolve_stripe(&args.stripe)?;
        let jwt = match (&args.jwt_secret, &args.jwt_public_key_file) {
            (Some(_), Some(_)) => {
                return Err("set POS_JWT_SECRET or POS_JWT_PUBLIC_KEY_FILE, not both".into())
            }
            (Some(secret), None) => {
                if secret.len() < 32 {
                    return Err("POS_JWT_SECRET must be at least 32 characters".into());
                }
                JwtKey::Hs256(Secret::new(secret.clone()))
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("POS_JWT_PUBLIC_KEY_FILE {}: {e}", path.display()))?;
                // jsonwebtoken takes an RSA private key here too, and then verifies no token at
                // all (every request 401); and the server has no business holding that key.
                if holds_private_key(&pem) {
                    return Err(format!(
                        "POS_JWT_PUBLIC_KEY_FILE {}: holds a private key; give the server only the \
                         public key (openssl pkey -in private.pem -pubout -out public.pem)",
                        path.display()
                    ));
                }
                // Refused now, with the file named, rather than when the server builds.
                crate::auth::Authenticator::rs256(&pem).map_err(|e| {
                    format!(
                        "POS_JWT_PUBLIC_KEY_FILE {}: not an RSA public key in PEM: {e}",
                        path.display()
                    )
                })?;
                JwtKey::Rs256PublicPem(pem)
            }
            (None, None) if live => {
                return Err(
                    "a live Stripe key requires POS_JWT_SECRET or POS_JWT_PUBLIC_KEY_FILE".into(),
                )
            }
            (None, None) => JwtKey::Hs256(token_secret(None, &args.data)?),
        };
        let encryption_key = args.encryption.resolve(&args.data, live)?;
        let instance = crate::jobs::instances::InstanceConfig {
            heartbeat_interval: Duration::from_millis(args.heartbeat_interval_ms),
            timeout: Duration::from_millis(args.instance_timeout_ms),
        };
        instance
            .validate()
            .map_err(|e| format!("POS_HEARTBEAT_INTERVAL_MS / POS_INSTANCE_TIMEOUT_MS: {e}"))?;
        Ok(Config {
            instance,
            database_url: args.database.url(&args.data),
            listen: args.listen.clone(),
            jwt,
            stripe,
            stripe_timeout: args.stripe.timeout(),
            encryption_key: Secret::new(encryption_key),
            workers: args.workers,
            db_pool_size: args.db_pool_size.max(1),
            stripe_webhook_secrets: args
                .stripe_webhook_secret
                .iter()
                .flat_map(|s| s.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Secret::new(s.to_string()))
                .collect(),
            sim_limits: args.sim_limits.limits()?,
            clock: crate::clock::Clock::system(),
            delivery: args.webhook_worker.then(Default::default),
            reconcile: (args.reconcile_interval_secs > 0).then(|| {
                crate::jobs::reconcile::ReconcileConfig {
                    interval: Duration::from_secs(args.reconcile_interval_secs),
                    ..Default::default()
                }
            }),
        })
    }
}

/// The database for logs: a PostgreSQL URL without its password, or the SQLite file.
pub fn describe_database(url: &str) -> String {
    match crate::db::Backend::from_url(url) {
        crate::db::Backend::Postgres => match url::Url::parse(url) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    // Only fails for URLs that cannot have a password.
                    let _ = parsed.set_password(Some("***"));
                }
                format!("PostgreSQL {parsed}")
            }
            Err(_) => "PostgreSQL (unparsable URL, not shown)".to_string(),
        },
        crate::db::Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            format!("SQLite file {path}")
        }
    }
}

/// Whether PEM text has a private-key block (`PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED …`).
fn holds_private_key(pem: &[u8]) -> bool {
    String::from_utf8_lossy(pem).lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .is_some_and(|label| label.contains("PRIVATE KEY"))
    })
}

/// Reads a development secret from `dir/name`: `bytes` random bytes as hex, created (mode 0600)
/// the first time. A file that is not exactly that (empty, truncated, edited) is refused rather
/// than used as a weak key. Creation is atomic: the secret is written and synced to a temporary
/// file, then hard-linked into place, so a crash never leaves a partial file and of two processes
/// starting at once, one secret wins and both use it.
fn dev_secret(dir: &Path, name: &str, bytes: usize) -> Result<String, String> {
    let path = dir.join(name);
    let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let checked = |text: String| {
        let secret = text.trim().to_string();
        if secret.len() == bytes * 2 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(secret)
        } else {
            Err(format!(
                "{}: not a development secret ({} hex digits expected); delete the file to \
                 generate a new one (tokens and sealed values made with the old one stop working)",
                path.display(),
                bytes * 2
            ))
        }
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) => return checked(existing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(shown(&e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut raw = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
    let secret = hex::encode(raw);
    let temp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        std::io::Write::write_all(&mut file, secret.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&temp, &path)
    })();
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => {
            log::info!("generated development secret {}", path.display());
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            checked(std::fs::read_to_string(&path).map_err(|e| shown(&e))?)
        }
        Err(e) => Err(shown(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
    }

    fn args(extra: &[&str], data_dir: &Path) -> ConfigArgs {
        let mut argv = vec!["pos-backend", "--data-dir", data_dir.to_str().unwrap()];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().config
    }

    #[test]
    fn the_database_lives_in_the_data_folder_unless_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::resolve(&args(&[], dir.path())).unwrap();
        assert_eq!(
            config.database_url,
            dir.path().join("pos.db").to_string_lossy()
        );
        let named = Config::resolve(&args(&["--database-url", "/elsewhere/x.db"], dir.path()));
        assert_eq!(named.unwrap().database_url, "/elsewhere/x.db");
    }

    #[test]
    fn the_database_is_described_without_its_password() {
        assert_eq!(
            describe_database("postgres://pos:s3cret@db.internal:5432/pos?sslmode=require"),
            "PostgreSQL postgres://pos:***@db.internal:5432/pos?sslmode=require"
        );
        assert_eq!(
            describe_database("postgresql://postgres@127.0.0.1/pos"),
            "PostgreSQL postgresql://postgres@127.0.0.1/pos"
        );
        assert_eq!(
            describe_database("./data/pos.db"),
            "SQLite file ./data/pos.db"
        );
        assert!(!describe_database("postgres://u:p%40ss@h/db").contains("p%40ss"));
    }

    #[test]
    fn simulator_limits_are_set_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::resolve(&args(&["--sim-events-limit", "50"], dir.path())).unwrap();
        assert_eq!(config.sim_limits.events, 50);
        assert_eq!(
            config.sim_limits.request_log,
            stripe_sim::Limits::default().request_log
        );
        let err =
            Config::resolve(&args(&["--sim-request-log-limit", "0"], dir.path())).unwrap_err();
        assert!(err.contains("STRIPE_SIM_REQUEST_LOG_LIMIT"), "{err}");
    }

    #[test]
    fn the_instance_timeout_covers_at_least_two_heartbeats() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::resolve(&args(&[], dir.path())).unwrap();
        assert_eq!(config.instance.heartbeat_interval, Duration::from_secs(5));
        assert_eq!(config.instance.timeout, Duration::from_secs(15));
        let short = ["--heartbeat-interval-ms=100", "--instance-timeout-ms=400"];
        let config = Config::resolve(&args(&short, dir.path())).unwrap();
        assert_eq!(config.instance.timeout, Duration::from_millis(400));
        for refused in [
            ["--heartbeat-interval-ms=1000", "--instance-timeout-ms=1500"],
            ["--heartbeat-interval-ms=0", "--instance-timeout-ms=1500"],
        ] {
            let err = Config::resolve(&args(&refused, dir.path())).unwrap_err();
            assert!(err.contains("POS_INSTANCE_TIMEOUT_MS"), "{err}");
        }
    }

    #[test]
    fn a_live_key_needs_explicit_jwt_and_encryption_keys() {
        let dir = tempfile::tempdir().unwrap();
        let live = ["--stripe-secret-key", "sk_live_abc"];
        let err = Config::resolve(&args(&live, dir.path())).unwrap_err();
        assert!(err.contains("POS_JWT_SECRET"), "{err}");
        let jwt = "--jwt-secret=0123456789abcdef0123456789abcdef";
        let err = Config::resolve(&args(&[live[0], live[1], jwt], dir.path())).unwrap_err();
        assert!(err.contains("POS_ENCRYPTION_KEY"), "{err}");
        let key = format!("--encryption-key={}", "ab".repeat(32));
        let config = Config::resolve(&args(&[live[0], live[1], jwt, &key], dir.path())).unwrap();
        assert!(matches!(config.stripe, StripeMode::Stripe { .. }));
        assert!(
            !dir.path().join("dev-jwt-secret").exists(),
            "no development secret with real money"
        );
    }

    #[test]
    fn simulator_mode_generates_development_secrets_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = Config::resolve(&args(&[], dir.path())).unwrap();
        let second = Config::resolve(&args(&[], dir.path())).unwrap();
        assert!(matches!(first.stripe, StripeMode::Simulator));
        let secret = |c: &Config| match &c.jwt {
            JwtKey::Hs256(s) => s.expose().clone(),
            JwtKey::Rs256PublicPem(_) => unreachable!(),
        };
        assert_eq!(
            secret(&first),
            secret(&second),
            "the server and `pos-backend token` agree"
        );
        assert_eq!(
            first.encryption_key.expose(),
            second.encryption_key.expose()
        );
        assert!(Config::resolve(&args(&["--jwt-secret", "short"], dir.path())).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in ["dev-jwt-secret", "dev-encryption-key"] {
                let meta = std::fs::metadata(dir.path().join(name)).unwrap();
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(
            leftovers.is_empty(),
            "no temporary files left: {leftovers:?}"
        );
        assert!(Config::resolve(&args(&["--stripe-secret-key", "pk_test_1"], dir.path())).is_err());
    }

    #[test]
    fn a_damaged_development_secret_is_refused() {
        for (name, content) in [
            ("dev-jwt-secret", ""),
            ("dev-jwt-secret", "\n"),
            ("dev-jwt-secret", "0123abcd"),
            ("dev-encryption-key", &"ab".repeat(31)),
            ("dev-jwt-secret", &"zz".repeat(32)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(name), content).unwrap();
            let err = Config::resolve(&args(&[], dir.path())).unwrap_err();
            assert!(
                err.contains(name) && err.contains("delete the file"),
                "{name} {content:?}: {err}"
            );
        }
        // A good one (as written, with a trailing newline from an editor) is reused.
        let dir = tempfile::tempdir().unwrap();
        let good = "ab".repeat(32);
        std::fs::write(dir.path().join("dev-jwt-secret"), format!("{good}\n")).unwrap();
        let config = Config::resolve(&args(&[], dir.path())).unwrap();
        assert!(matches!(&config.jwt, JwtKey::Hs256(s) if *s.expose() == good));
    }

    #[test]
    fn processes_starting_at_once_agree_on_one_development_secret() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(8);
        let secrets: Vec<String> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        dev_secret(dir.path(), "dev-jwt-secret", 32).unwrap()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let on_disk = std::fs::read_to_string(dir.path().join("dev-jwt-secret")).unwrap();
        assert_eq!(on_disk.len(), 64);
        assert!(secrets.iter().all(|s| *s == on_disk), "{secrets:?}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["dev-jwt-secret"], "no temporary files left");
    }

    #[test]
    fn the_rs256_key_file_is_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let public = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/jwt-rs256-public.pem"
        );
        let both = Config::resolve(&args(
            &[
                "--jwt-secret",
                &"s".repeat(32),
                "--jwt-public-key-file",
                public,
            ],
            dir.path(),
        ))
        .unwrap_err();
        assert!(both.contains("not both"), "{both}");
        let config =
            Config::resolve(&args(&["--jwt-public-key-file", public], dir.path())).unwrap();
        assert!(matches!(config.jwt, JwtKey::Rs256PublicPem(_)));
        assert!(
            !dir.path().join("dev-jwt-secret").exists(),
            "no development JWT secret"
        );
        let missing = dir.path().join("missing.pem");
        let err = Config::resolve(&args(
            &["--jwt-public-key-file", missing.to_str().unwrap()],
            dir.path(),
        ))
        .unwrap_err();
        assert!(err.contains("missing.pem"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let err = Config::resolve(&args(
            &["--jwt-public-key-file", garbage.to_str().unwrap()],
            dir.path(),
        ))
        .unwrap_err();
        assert!(
            err.contains("garbage.pem") && err.contains("not an RSA public key"),
            "{err}"
        );
        let resolve_with = |file: &Path| {
            Config::resolve(&args(
                &["--jwt-public-key-file", file.to_str().unwrap()],
                dir.path(),
            ))
        };
        // Unreadable (a directory: root reads any file whatever its mode) and empty files.
        let err = resolve_with(dir.path()).unwrap_err();
        assert!(err.starts_with("POS_JWT_PUBLIC_KEY_FILE "), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = resolve_with(&empty).unwrap_err();
        assert!(
            err.contains("empty.pem") && err.contains("not an RSA public key"),
            "{err}"
        );
        // The private key by mistake: jsonwebtoken parses it, and would then verify no token.
        let private =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt-rs256-private.pem");
        let err = resolve_with(&private).unwrap_err();
        assert!(
            err.contains("jwt-rs256-private.pem") && err.contains("private key"),
            "{err}"
        );
        assert!(!err.contains("BEGIN"), "the key is not echoed: {err}");
    }
}
