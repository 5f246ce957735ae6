//! The reconciler: makes our records converge on Stripe's truth when requests or webhooks went
//! missing. Runs in the background and as `pos-backend reconcile`; returns (and the CLI prints) a
//! line for every change.
//!
//! 1. Payments stuck in `creating` (a crash or timeout between our row and Stripe's answer): the
//!    intent is looked up by its metadata, or its creation replayed with the same
//!    Idempotency-Key, so there is never a second PaymentIntent. Saved-card charges are only
//!    looked up (replaying one would charge a card nobody is waiting for).
//! 2. Missed webhooks: Stripe's recent events are listed and every one we never stored goes
//!    through the webhook path (deduplicated by event id, never moving a payment backwards).
//! 3. Authorisations whose `capture_before` is near raise `payment.authorization_expiring`, once.

use crate::db::models::{Account, Payment};
use crate::db::schema::{accounts, payment_history, payments, stripe_events};
use crate::error::ApiError;
use crate::flows::payments::{self as payment_flows, CREATING};
use crate::flows::webhooks::{self, Received, HANDLED};
use crate::flows::Services;
use crate::stripe::{metadata_query, Expandable, ListEvents, ListParams, SearchParams};
use diesel::prelude::*;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// A payment still `creating` after this long is taken as stuck.
    pub stuck_after: Duration,
    /// How far back Stripe's events are replayed.
    pub events_since: Duration,
    /// Announce authorisations that must be captured within this long.
    pub expiring_within: Duration,
    /// Pause between background runs.
    pub interval: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            stuck_after: Duration::from_secs(60),
            events_since: Duration::from_secs(3 * 24 * 3600),
            expiring_within: Duration::from_secs(24 * 3600),
            interval: Duration::from_secs(300),
        }
    }
}

/// Runs forever in the background.
pub async fn run(services: std::sync::Arc<Services>, config: ReconcileConfig) {
    loop {
        tokio::time::sleep(config.interval).await;
        match run_once(&services, &config).await {
            Ok(changes) => changes.iter().for_each(|c| log::info!("reconcile: {c}")),
            Err(e) => log::warn!("reconcile: {e}"),
        }
    }
}

/// One pass over the three checks; returns what changed.
pub async fn run_once(
    services: &Services,
    config: &ReconcileConfig,
) -> Result<Vec<String>, ApiError> {
    let mut changes = Vec::new();
    heal_creating(services, config, &mut changes).await?;
    replay_missed_events(services, config, &mut changes).await?;
    announce_expiring(services, config, &mut changes).await?;
    Ok(changes)
}

fn ago(d: Duration) -> chrono::NaiveDateTime {
    crate::db::models::now()
        - chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::days(3650))
}

async fn heal_creating(
    services: &Services,
    config: &ReconcileConfig,
    changes: &mut Vec<String>,
) -> Result<(), ApiError> {
    let before = ago(config.stuck_after);
    let stuck: Vec<(Payment, Account)> = services
        .db
        .run(move |conn| {
            payments::table
                .inner_join(accounts::table)
                .filter(payments::status.eq(CREATING))
                .filter(payments::created_at.lt(before))
                .select((Payment::as_select(), Account::as_select()))
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    for (payment, account) in stuck {
        let stripe_account = services.stripe_account(&account)?;
        let query = format!(
            "{} AND {}",
            metadata_query("external_account_id", &account.external_account_id),
            metadata_query("external_transaction_id", &payment.external_transaction_id)
        );
        let found = services
            .stripe
            .search_payment_intents(
                &stripe_account,
                &SearchParams {
                    query: &query,
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .await?
            .data
            .into_iter()
            .next();
        let (intent, how) = match found {
            Some(intent) => (intent, "found by metadata"),
            None if payment.stripe_payment_method_id.is_some() => {
                changes.push(format!(
                    "payment {} (account {}): saved-card charge never reached Stripe; left for the caller to retry",
                    payment.external_transaction_id, account.external_account_id
                ));
                continue;
            }
            None => {
                let customer = match payment.customer_id.clone() {
                    Some(id) => Some(
                        services
                            .db
                            .run(move |c| crate::flows::customers::by_id(c, &id))
                            .await?,
                    ),
                    None => None,
                };
                let intent = payment_flows::create_at_stripe(
                    services,
                    &stripe_account,
                    &account,
                    &payment,
                    customer.as_ref(),
                )
                .await?;
                (intent, "creation replayed with its Idempotency-Key")
            }
        };
        let line = format!(
            "payment {} (account {}): creating → {} as {} ({how})",
            payment.external_transaction_id,
            account.external_account_id,
            intent.status.as_str(),
            intent.id
        );
        payment_flows::complete(services, payment, &intent, "reconciler").await?;
        changes.push(line);
    }
    Ok(())
}

async fn replay_missed_events(
    services: &Services,
    config: &ReconcileConfig,
    changes: &mut Vec<String>,
) -> Result<(), ApiError> {
    let since = chrono::Utc::now().timestamp() - config.events_since.as_secs() as i64;
    // The platform's own events, and those of every merchant with a key or connected account.
    let merchants: Vec<Account> = services
        .db
        .run(|conn| {
            accounts::table
                .filter(
                    accounts::stripe_secret_key_enc
                        .is_not_null()
                        .or(accounts::stripe_account_id.is_not_null()),
                )
                .select(Account::as_select())
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let mut contexts = vec![crate::stripe::StripeAccount {
        secret_key: services.platform_key.clone(),
        stripe_account: None,
    }];
    for merchant in &merchants {
        contexts.push(services.stripe_account(merchant)?);
    }
    for context in contexts {
        let mut starting_after: Option<String> = None;
        loop {
            let page = services
                .stripe
                .list_events(
                    &context,
                    &ListEvents {
                        created_gte: Some(since),
                        page: ListParams {
                            limit: Some(100),
                            starting_after: starting_after.as_deref(),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .await?;
            let ids: Vec<String> = page.data.iter().map(|e| e.id.clone()).collect();
            let known: Vec<String> = services
                .db
                .run(move |conn| {
                    stripe_events::table
                        .filter(stripe_events::id.eq_any(&ids))
                        .select(stripe_events::id)
                        .load(conn)
                        .map_err(ApiError::from)
                })
                .await?;
            starting_after = page.data.last().map(|e| e.id.clone());
            // Oldest first, as Stripe would have delivered them.
            for event in page.data.into_iter().rev() {
                if known.contains(&event.id) || !HANDLED.contains(&event.event_type.as_str()) {
                    continue;
                }
                let line = format!(
                    "event {} ({}) was never delivered: applied",
                    event.id, event.event_type
                );
                if webhooks::store_and_apply(services, event).await? == Received::Applied {
                    changes.push(line);
                }
            }
            if !page.has_more || starting_after.is_none() {
                break;
            }
        }
    }
    Ok(())
}

async fn announce_expiring(
    services: &Services,
    config: &ReconcileConfig,
    changes: &mut Vec<String>,
) -> Result<(), ApiError> {
    let authorised: Vec<(Payment, Account)> = services
        .db
        .run(|conn| {
            let announced = payment_history::table
                .filter(payment_history::action.eq("expiring"))
                .select(payment_history::payment_id);
            payments::table
                .inner_join(accounts::table)
                .filter(payments::status.eq("requires_capture"))
                .filter(payments::id.ne_all(announced))
                .select((Payment::as_select(), Account::as_select()))
                .load(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let horizon = chrono::Utc::now().timestamp() + config.expiring_within.as_secs() as i64;
    for (payment, account) in authorised {
        let Some(intent_id) = payment.stripe_payment_intent_id.clone() else {
            continue;
        };
        let intent = services
            .stripe
            .retrieve_payment_intent(
                &services.stripe_account(&account)?,
                &intent_id,
                &["latest_charge"],
            )
            .await?;
        let capture_before = match &intent.latest_charge {
            Some(Expandable::Object(charge)) => charge
                .payment_method_details
                .as_ref()
                .and_then(|d| d.card_present.as_ref().or(d.interac_present.as_ref()))
                .and_then(|c| c.capture_before),
            _ => None,
        };
        let Some(deadline) = capture_before.filter(|t| *t <= horizon) else {
            continue;
        };
        let id = payment.id.clone();
        services
            .db
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| {
                    payment_flows::record(
                        conn,
                        &id,
                        "expiring",
                        "requires_capture",
                        None,
                        "reconciler",
                    )
                })
            })
            .await?;
        changes.push(format!(
            "payment {} ({intent_id}, account {}): authorisation expires at {} unless captured: payment.authorization_expiring",
            payment.external_transaction_id,
            account.external_account_id,
            chrono::DateTime::from_timestamp(deadline, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
        ));
    }
    Ok(())
}
