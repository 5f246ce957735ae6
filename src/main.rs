//! The `pos-backend` command: `serve` (default), `migrate`, `token`, `account`, `reconcile`,
//! `stripe-sim`.

use clap::{Parser, Subcommand};
use pos_backend::app::Application;
use pos_backend::auth::{parse_ttl, AccountsClaim, Authenticator, Scope};
use pos_backend::config::{Config, ConfigArgs, JwtKey, StripeMode};
use pos_backend::crypto::SecretBox;
use pos_backend::db::Db;
use pos_backend::flows::accounts::{self, AccountChanges};
use pos_backend::flows::Services;
use pos_backend::jobs::reconcile::{self, ReconcileConfig};
use std::process::ExitCode;
use stripe_client::{StripeClient, StripeConfig};

#[derive(Parser)]
#[command(
    name = "pos-backend",
    version,
    about = "Card-present POS payments on Stripe Terminal"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
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
    },
    /// Run the Stripe simulator alone.
    StripeSim {
        /// Where signed webhook events are POSTed.
        #[arg(long)]
        webhook_url: Option<String>,
        /// The `whsec_…` secret they are signed with (random when omitted).
        #[arg(long, hide_env_values = true)]
        webhook_secret: Option<String>,
        /// A fault to inject from the start, as the JSON `POST /_sim/faults` takes (repeatable),
        /// e.g. '{"path":"/v1/payment_intents","latency_ms":200}'.
        #[arg(long = "fault")]
        faults: Vec<String>,
    },
    /// Create or update a merchant account directly in the database.
    Account {
        external_account_id: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        stripe_account_id: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::new()
        .parse_filters(&cli.config.log)
        .format_timestamp_millis()
        .init();
    let result = actix_web::rt::System::new().block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Some(Command::StripeSim {
        webhook_url,
        webhook_secret,
        faults,
    }) = &cli.command
    {
        let faults = faults
            .iter()
            .map(|f| serde_json::from_str(f).map_err(|e| format!("--fault {f}: {e}")))
            .collect::<Result<Vec<stripe_sim::FaultRule>, _>>()?;
        let listener = std::net::TcpListener::bind(&cli.config.listen)
            .map_err(|e| format!("{}: {e}", cli.config.listen))?;
        let secret = webhook_secret
            .clone()
            .unwrap_or_else(|| format!("whsec_{}", uuid::Uuid::new_v4().simple()));
        println!(
            "Stripe simulator on http://{} (any sk_test_… key)",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let sim = stripe_sim::Simulator::new(stripe_sim::SimConfig {
            webhook_url: webhook_url.clone(),
            webhook_secret: secret,
            faults,
            ..Default::default()
        });
        return stripe_sim::serve(listener, sim)
            .await
            .map_err(|e| e.to_string());
    }
    let config = Config::resolve(&cli.config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
            db.migrate().map_err(|e| e.to_string())?;
            println!("migrations applied ({:?})", db.backend());
            Ok(())
        }
        Command::Token {
            accounts,
            all_accounts,
            scope,
            ttl,
            subject,
        } => {
            let JwtKey::Hs256(secret) = &config.jwt else {
                return Err(
                    "tokens can only be issued with an HS256 secret (POS_JWT_SECRET)".into(),
                );
            };
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
                Authenticator::hs256(secret).issue(&subject, claim, &scopes, parse_ttl(&ttl)?)?;
            println!("{token}");
            Ok(())
        }
        Command::StripeSim { .. } => unreachable!("handled above"),
        Command::Reconcile {
            stuck_after,
            events_since,
            expiring_within,
        } => {
            let StripeMode::Stripe {
                secret_key,
                api_base,
            } = &config.stripe
            else {
                return Err("reconcile needs STRIPE_SECRET_KEY (with STRIPE_API_BASE=http://…/sim/stripe for a running simulator)".into());
            };
            let db = Db::connect(&config.database_url, 2).map_err(|e| e.to_string())?;
            let stripe = StripeClient::new(StripeConfig {
                api_base: api_base.clone(),
                timeout: config.stripe_timeout,
                ..StripeConfig::default()
            })
            .map_err(|e| e.to_string())?;
            let services = Services {
                db,
                stripe,
                platform_key: secret_key.clone(),
                secrets: SecretBox::new(config.encryption_key.expose()),
                stripe_webhook_secrets: config.stripe_webhook_secrets.clone(),
                simulator: false,
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
        Command::Account {
            external_account_id,
            display_name,
            currency,
            stripe_account_id,
        } => {
            let db = Db::connect(&config.database_url, 1).map_err(|e| e.to_string())?;
            let secrets = SecretBox::new(config.encryption_key.expose());
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
