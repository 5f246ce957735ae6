//! The `pos-backend` command: `serve` (default), `migrate`, `token`, `account`, `reconcile`,
//! `stripe setup-webhook`, `stripe-sim`. Each subcommand takes only the options it uses.

use clap::{Args, Parser, Subcommand};
use pos_backend::app::Application;
use pos_backend::auth::{parse_ttl, AccountsClaim, Authenticator, Scope};
use pos_backend::config::{
    token_secret, Config, ConfigArgs, DataDirArgs, DatabaseArgs, EncryptionArgs, LogArgs,
    SimLimitArgs, StripeArgs,
};
use pos_backend::crypto::SecretBox;
use pos_backend::db::Db;
use pos_backend::flows::accounts::{self, AccountChanges};
use pos_backend::flows::{webhook_setup, Services};
use pos_backend::jobs::reconcile::{self, ReconcileConfig};
use std::process::ExitCode;
use stripe_client::{StripeAccount, StripeClient, StripeConfig};

#[derive(Parser)]
#[command(
    name = "pos-backend",
    version,
    about = "Card-present POS payments on Stripe Terminal",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Without a subcommand: `serve` with these options.
    #[command(flatten)]
    serve: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve(ConfigArgs),
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        data: DataDirArgs,
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print a signed JWT for calling the API.
    Token {
        /// An account the token may act for (repeatable).
        #[arg(long = "account", required_unless_present = "all_accounts")]
        accounts: Vec<String>,
        /// The token may act for every account (platform operators).
        #[arg(long, conflicts_with = "accounts")]
        all_accounts: bool,
        /// Space-separated scopes.
        #[arg(
            long,
            default_value = "payments:read payments:write cards:read cards:write terminal"
        )]
        scope: String,
        /// Lifetime, e.g. 8h, 30m, 7d.
        #[arg(long, default_value = "8h")]
        ttl: String,
        /// The token's subject (who acts), recorded in payment histories.
        #[arg(long, default_value = "cli")]
        subject: String,
        /// HS256 secret to sign with (default: the development secret in the data folder, which
        /// the server uses in simulator mode).
        #[arg(long, env = "POS_JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
        /// Read only to refuse: a server verifying RS256 tokens takes none signed here.
        #[arg(long, env = "POS_JWT_PUBLIC_KEY_FILE", hide = true)]
        jwt_public_key_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        data: DataDirArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Reconcile once with Stripe (stuck payments, missed webhooks, expiring authorisations) and
    /// print what changed. Needs STRIPE_SECRET_KEY (and STRIPE_API_BASE for a simulator).
    Reconcile {
        /// A payment still `creating` after this long is stuck (e.g. 60s).
        #[arg(long, default_value = "60s")]
        stuck_after: String,
        /// Replay Stripe's events of this recent past (e.g. 72h).
        #[arg(long, default_value = "72h")]
        events_since: String,
        /// Announce authorisations that must be captured within this long (e.g. 24h).
        #[arg(long, default_value = "24h")]
        expiring_within: String,
        #[command(flatten)]
        data: DataDirArgs,
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        stripe: StripeArgs,
        #[command(flatten)]
        encryption: EncryptionArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Set up the Stripe account this backend uses.
    #[command(subcommand)]
    Stripe(StripeCommand),
    /// Run the Stripe simulator alone.
    StripeSim(StripeSimArgs),
    /// Create or update a merchant account directly in the database.
    Account {
        external_account_id: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        stripe_account_id: Option<String>,
        #[command(flatten)]
        data: DataDirArgs,
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        encryption: EncryptionArgs,
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Subcommand)]
enum StripeCommand {
    /// Register (or update) our webhook endpoints at Stripe with exactly the events we handle:
    /// one for the platform's events, one for connected accounts' (Connect). Prints the signing
    /// secrets to set as STRIPE_WEBHOOK_SECRET. Safe to run again.
    SetupWebhook {
        /// Where Stripe sends events: this server's public URL of /v1/webhooks/stripe, e.g.
        /// https://pos.example.com/v1/webhooks/stripe.
        #[arg(long)]
        url: String,
        #[command(flatten)]
        stripe: StripeArgs,
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Args)]
struct StripeSimArgs {
    /// Address the simulator listens on.
    #[arg(long, env = "POS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Where signed webhook events are POSTed (besides the endpoints registered through
    /// /v1/webhook_endpoints).
    #[arg(long)]
    webhook_url: Option<String>,
    /// The `whsec_…` secret they are signed with (random when omitted).
    #[arg(long, hide_env_values = true)]
    webhook_secret: Option<String>,
    /// A fault to inject from the start, as the JSON `POST /_sim/faults` takes (repeatable),
    /// e.g. '{"path":"/v1/payment_intents","latency_ms":200}'.
    #[arg(long = "fault")]
    faults: Vec<String>,
    #[command(flatten)]
    limits: SimLimitArgs,
    #[command(flatten)]
    log: LogArgs,
}

impl Command {
    fn log_filter(&self) -> &str {
        let log = match self {
            Command::Serve(config) => &config.log,
            Command::Migrate { log, .. }
            | Command::Token { log, .. }
            | Command::Reconcile { log, .. }
            | Command::Account { log, .. }
            | Command::Stripe(StripeCommand::SetupWebhook { log, .. }) => log,
            Command::StripeSim(sim) => &sim.log,
        };
        &log.log
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    env_logger::Builder::new()
        .parse_filters(command.log_filter())
        .format_timestamp_millis()
        .init();
    let result = actix_web::rt::System::new().block_on(run(command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => {
            let config = Config::resolve(&args)?;
            let app = Application::build(config).await?;
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::StripeSim(args) => stripe_sim(args).await,
        Command::Migrate { data, database, .. } => {
            let url = database.url(&data);
            let (_, applied) = Db::connect_reporting(&url, 1).map_err(|e| e.to_string())?;
            println!("database: {}", pos_backend::config::describe_database(&url));
            if applied.is_empty() {
                println!("migrations: none pending");
            } else {
                println!(
                    "migrations applied ({}): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(())
        }
        Command::Token {
            accounts,
            all_accounts,
            scope,
            ttl,
            subject,
            jwt_secret,
            jwt_public_key_file,
            data,
            ..
        } => {
            if jwt_secret.is_none() && jwt_public_key_file.is_some() {
                return Err(
                    "tokens can only be issued with an HS256 secret (POS_JWT_SECRET); with \
                     POS_JWT_PUBLIC_KEY_FILE, your identity provider issues them"
                        .into(),
                );
            }
            let secret = token_secret(jwt_secret.as_deref(), &data)?;
            let scopes = scope
                .split_whitespace()
                .map(|s| Scope::parse(s).ok_or_else(|| format!("unknown scope '{s}'")))
                .collect::<Result<Vec<_>, _>>()?;
            let claim = if all_accounts {
                AccountsClaim::All("*".into())
            } else {
                AccountsClaim::List(accounts)
            };
            let token =
                Authenticator::hs256(&secret).issue(&subject, claim, &scopes, parse_ttl(&ttl)?)?;
            println!("{token}");
            Ok(())
        }
        Command::Reconcile {
            stuck_after,
            events_since,
            expiring_within,
            data,
            database,
            stripe,
            encryption,
            ..
        } => {
            let (secret_key, api_base) = stripe.required("reconcile")?;
            let live = StripeAccount::new(secret_key.expose().clone()).is_live();
            let encryption_key = encryption.resolve(&data, live)?;
            let db = Db::connect(&database.url(&data), 2).map_err(|e| e.to_string())?;
            let client = StripeClient::new(StripeConfig {
                api_base,
                timeout: stripe.timeout(),
                ..StripeConfig::default()
            })
            .map_err(|e| e.to_string())?;
            let services = Services {
                db,
                stripe: client,
                platform_key: secret_key,
                secrets: SecretBox::new(&encryption_key),
                // The reconciler reads events from Stripe's API: no signature to verify.
                stripe_webhook_secrets: Vec::new(),
                simulator: false,
                clock: pos_backend::clock::Clock::system(),
            };
            let secs = |s: &str| parse_ttl(s).map(|n| std::time::Duration::from_secs(n as u64));
            let reconcile = ReconcileConfig {
                stuck_after: secs(&stuck_after)?,
                events_since: secs(&events_since)?,
                expiring_within: secs(&expiring_within)?,
                ..ReconcileConfig::default()
            };
            let report = reconcile::run_once(&services, &reconcile).await;
            for change in &report.changes {
                println!("{change}");
            }
            for failure in &report.failures {
                println!("failed: {failure}");
            }
            println!("reconciled: {} change(s)", report.changes.len());
            match report.failures.len() {
                0 => Ok(()),
                n => Err(format!(
                    "reconcile: {n} failure(s); the rest was reconciled"
                )),
            }
        }
        Command::Stripe(StripeCommand::SetupWebhook { url, stripe, .. }) => {
            let (secret_key, api_base) = stripe.required("stripe setup-webhook")?;
            let platform = StripeAccount::new(secret_key.expose().clone());
            let client = StripeClient::new(StripeConfig {
                api_base,
                timeout: stripe.timeout(),
                ..StripeConfig::default()
            })
            .map_err(|e| e.to_string())?;
            let registered = webhook_setup::setup(&client, &platform, &url).await?;
            print!("{}", webhook_setup::report(&url, &registered));
            Ok(())
        }
        Command::Account {
            external_account_id,
            display_name,
            currency,
            stripe_account_id,
            data,
            database,
            encryption,
            ..
        } => {
            let encryption_key = encryption.resolve(&data, false)?;
            let db = Db::connect(&database.url(&data), 1).map_err(|e| e.to_string())?;
            let secrets = SecretBox::new(&encryption_key);
            let changes = AccountChanges {
                display_name: display_name.map(Some),
                default_currency: currency
                    .map(|c| pos_backend::money::Currency::parse(&c))
                    .transpose()
                    .map_err(|e| e.to_string())?,
                stripe_account_id: stripe_account_id.map(Some),
                ..AccountChanges::default()
            };
            let upserted = accounts::upsert(&db, &secrets, external_account_id, changes)
                .await
                .map_err(|e| e.to_string())?;
            let (account, created) = (upserted.account, upserted.created);
            println!(
                "{} account {} ({})",
                if created { "created" } else { "updated" },
                account.external_account_id,
                account.default_currency
            );
            Ok(())
        }
    }
}

/// `pos-backend stripe-sim`: the simulator alone.
async fn stripe_sim(args: StripeSimArgs) -> Result<(), String> {
    let faults = args
        .faults
        .iter()
        .map(|f| serde_json::from_str(f).map_err(|e| format!("--fault {f}: {e}")))
        .collect::<Result<Vec<stripe_sim::FaultRule>, _>>()?;
    let limits = args.limits.limits()?;
    let listener =
        std::net::TcpListener::bind(&args.listen).map_err(|e| format!("{}: {e}", args.listen))?;
    let secret = args
        .webhook_secret
        .unwrap_or_else(|| format!("whsec_{}", uuid::Uuid::new_v4().simple()));
    println!(
        "Stripe simulator on http://{} (any sk_test_… key)",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let sim = stripe_sim::Simulator::new(stripe_sim::SimConfig {
        webhook_url: args.webhook_url,
        webhook_secret: secret,
        faults,
        limits,
    });
    stripe_sim::serve(listener, sim)
        .await
        .map_err(|e| e.to_string())
}
