//! The reconciler: makes our records converge on Stripe's truth when requests or webhooks went
//! missing. Runs in the background and as `pos-backend reconcile`; returns (and the CLI prints) a
//! line for every change.
//!
//! 1. Payments stuck in `creating` (a crash or timeout between our row and Stripe's answer): the
//!    intent is looked up by its metadata, or its creation replayed with the same
//!    Idempotency-Key, so there is never a second PaymentIntent. Saved-card charges are only
//!    looked up (replaying one would charge a card nobody is waiting for). A search hit counts
//!    only if its metadata names this payment (account and transaction).
//! 2. Missed webhooks: Stripe's recent events are listed and every one we never stored goes
//!    through the webhook path (deduplicated by event id, never moving a payment backwards).
//! 3. Drift: every recent payment that is not final is compared with its intent at Stripe and
//!    moved forward through the state machine when Stripe is further along.
//! 4. Authorisations whose `capture_before` is near raise `payment.authorization_expiring`, once
//!    (the deadline recorded on the payment when known, else read from its charge and recorded).
//!
//! Every payment, account and event is tried on its own: one that fails (Stripe down for one
//! merchant, a bad key) is reported and the pass goes on with the rest.

use crate::clock::Clock;
use crate::db;
use crate::db::models::{Account, Payment};
use crate::error::Error;
use crate::flows::payment_updates::{apply_now, observe};
use crate::flows::payments::{self as payment_flows};
use crate::flows::webhooks::{self, HandledEvent, Received, Scope};
use crate::flows::Services;
use crate::payment_state::{PaymentStatus, PaymentUpdate, Source};
use std::time::Duration;
use stripe_client::{
    metadata_query, Expandable, ListEvents, ListParams, PaymentIntent, SearchParams,
};

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// A payment still `creating` after this long is taken as stuck.
    pub stuck_after: Duration,
    /// How far back Stripe's events are replayed, and how old a payment may be for its drift
    /// from Stripe to be checked.
    pub events_since: Duration,
    /// Announce authorisations that must be captured within this long.
    pub expiring_within: Duration,
    /// Pause between background runs.
    pub interval: Duration,
    /// What "older than" and "within" are measured against.
    pub clock: Clock,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            stuck_after: Duration::from_secs(60),
            events_since: Duration::from_secs(3 * 24 * 3600),
            expiring_within: Duration::from_secs(24 * 3600),
            interval: Duration::from_secs(300),
            clock: Clock::system(),
        }
    }
}

/// What one pass did, and what it could not do.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: Vec<String>,
    pub failures: Vec<String>,
}

impl Report {
    fn outcome(&mut self, what: impl FnOnce() -> String, result: Result<Option<String>, Error>) {
        match result {
            Ok(Some(change)) => self.changes.push(change),
            Ok(None) => {}
            Err(e) => self.failures.push(format!("{}: {e}", what())),
        }
    }
}

/// Runs forever in the background.
pub async fn run(services: std::sync::Arc<Services>, config: ReconcileConfig) {
    loop {
        tokio::time::sleep(config.interval).await;
        let report = run_once(&services, &config).await;
        report
            .changes
            .iter()
            .for_each(|c| log::info!("reconcile: {c}"));
        report
            .failures
            .iter()
            .for_each(|f| log::warn!("reconcile failed: {f}"));
    }
}

/// One pass over the four checks.
pub async fn run_once(services: &Services, config: &ReconcileConfig) -> Report {
    let mut report = Report::default();
    heal_creating(services, config, &mut report).await;
    replay_missed_events(services, config, &mut report).await;
    repair_drift(services, config, &mut report).await;
    announce_expiring(services, config, &mut report).await;
    report
}

async fn heal_creating(services: &Services, config: &ReconcileConfig, report: &mut Report) {
    let before = config.clock.ago(config.stuck_after);
    let stuck: Result<Vec<(Payment, Account)>, Error> = services
        .db
        .run(move |conn| db::payments::creating_before(conn, before).map_err(Error::from))
        .await;
    let stuck = match stuck {
        Ok(stuck) => stuck,
        Err(e) => {
            return report
                .failures
                .push(format!("payments stuck in creating: {e}"))
        }
    };
    for (payment, account) in stuck {
        let what = format!(
            "payment {} (account {})",
            payment.external_transaction_id, account.external_account_id
        );
        let result = heal_one(services, payment, account).await;
        report.outcome(|| what, result);
    }
}

async fn heal_one(
    services: &Services,
    payment: Payment,
    account: Account,
) -> Result<Option<String>, Error> {
    let stripe_account = services.stripe_account(&account)?;
    let query = format!(
        "{} AND {}",
        metadata_query("external_account_id", &account.external_account_id),
        metadata_query("external_transaction_id", &payment.external_transaction_id)
    );
    let hits = services
        .stripe
        .search_payment_intents(
            &stripe_account,
            &SearchParams {
                query: &query,
                limit: Some(10),
                ..Default::default()
            },
        )
        .await?
        .data;
    let (ours, others): (Vec<PaymentIntent>, Vec<PaymentIntent>) = hits
        .into_iter()
        .partition(|intent| names_payment(intent, &account, &payment));
    for other in &others {
        log::warn!(
            "reconcile: search hit {} for payment {} does not name it in its metadata; ignored",
            other.id,
            payment.id
        );
    }
    let found = ours.into_iter().next();
    let (intent, how) = match found {
        Some(intent) => (intent, "found by metadata"),
        None if payment.stripe_payment_method_id.is_some() => {
            return Ok(Some(format!(
                "payment {} (account {}): saved-card charge never reached Stripe; left for the caller to retry",
                payment.external_transaction_id, account.external_account_id
            )));
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
    Ok(Some(line))
}

/// Whether a PaymentIntent's metadata names this payment: a search hit is trusted only then.
pub fn names_payment(intent: &PaymentIntent, account: &Account, payment: &Payment) -> bool {
    intent.metadata.get("external_account_id") == Some(&account.external_account_id)
        && intent.metadata.get("external_transaction_id") == Some(&payment.external_transaction_id)
}

/// The final statuses and `creating` (healed above): not compared with Stripe.
const NOT_DRIFTING: [PaymentStatus; 4] = [
    PaymentStatus::Creating,
    PaymentStatus::Succeeded,
    PaymentStatus::Canceled,
    PaymentStatus::Failed,
];

/// The history action of the `payment.authorization_expiring` announcement.
const EXPIRING: &str = "expiring";

/// At most this many payments are compared with Stripe per pass (oldest first).
const DRIFT_BATCH: i64 = 500;

async fn repair_drift(services: &Services, config: &ReconcileConfig, report: &mut Report) {
    let since = config.clock.ago(config.events_since);
    let open: Result<Vec<(Payment, Account)>, Error> = services
        .db
        .run(move |conn| {
            db::payments::with_intent_since(conn, &NOT_DRIFTING, since, DRIFT_BATCH)
                .map_err(Error::from)
        })
        .await;
    let open = match open {
        Ok(open) => open,
        Err(e) => return report.failures.push(format!("payments not final: {e}")),
    };
    for (payment, account) in open {
        let what = format!(
            "payment {} (account {})",
            payment.external_transaction_id, account.external_account_id
        );
        let result = repair_one(services, payment, account).await;
        report.outcome(|| what, result);
    }
}

/// Moves one payment forward to its intent's state at Stripe, if Stripe is further along.
async fn repair_one(
    services: &Services,
    payment: Payment,
    account: Account,
) -> Result<Option<String>, Error> {
    let Some(intent_id) = payment.stripe_payment_intent_id.clone() else {
        return Ok(None);
    };
    let intent = services
        .stripe
        .retrieve_payment_intent(&services.stripe_account(&account)?, &intent_id, &[])
        .await?;
    let Some(state) = observe(&intent) else {
        return Ok(None);
    };
    let before = payment.status;
    if !before.can_move_to(state.status) {
        return Ok(None);
    }
    let update = PaymentUpdate::Intent {
        state,
        source: Source::Sync,
    };
    let applied = apply_now(services, &payment, update, "reconciler").await?;
    Ok(applied.changed.then(|| {
        format!(
            "payment {} ({intent_id}, account {}): {before} → {} at Stripe: drift repaired",
            payment.external_transaction_id, account.external_account_id, applied.payment.status
        )
    }))
}

async fn replay_missed_events(services: &Services, config: &ReconcileConfig, report: &mut Report) {
    let since = config.clock.timestamp() - config.events_since.as_secs() as i64;
    // The platform's own events, and those of every merchant with a key or connected account
    // (whose events may change only that merchant's records).
    let merchants: Result<Vec<Account>, Error> = services
        .db
        .run(|conn| db::accounts::with_own_stripe(conn).map_err(Error::from))
        .await;
    let merchants = match merchants {
        Ok(merchants) => merchants,
        Err(e) => return report.failures.push(format!("merchant accounts: {e}")),
    };
    let sources = std::iter::once(None).chain(merchants.iter().map(Some));
    for merchant in sources {
        let what = match merchant {
            None => "Stripe events of the platform".to_string(),
            Some(m) => format!("Stripe events of account {}", m.external_account_id),
        };
        if let Err(e) = replay_events_of(services, merchant, since, report).await {
            report.failures.push(format!("{what}: {e}"));
        }
    }
}

/// Replays one Stripe account's unseen events; an event that fails is reported and left for the
/// next pass (it is not stored), the others still apply.
async fn replay_events_of(
    services: &Services,
    merchant: Option<&Account>,
    since: i64,
    report: &mut Report,
) -> Result<(), Error> {
    let context = match merchant {
        None => stripe_client::StripeAccount {
            secret_key: services.platform_key.clone(),
            stripe_account: None,
        },
        Some(m) => services.stripe_account(m)?,
    };
    let scope = Scope::of(merchant);
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
            .run(move |conn| db::stripe_events::known_among(conn, &ids).map_err(Error::from))
            .await?;
        starting_after = page.data.last().map(|e| e.id.clone());
        // Oldest first, as Stripe would have delivered them.
        for event in page.data.into_iter().rev() {
            if known.contains(&event.id) || HandledEvent::parse(&event.event_type).is_none() {
                continue;
            }
            let line = format!(
                "event {} ({}) was never delivered: applied",
                event.id, event.event_type
            );
            let what = format!("event {} ({})", event.id, event.event_type);
            let result = webhooks::store_and_apply(services, event, &scope)
                .await
                .map(|r| (r == Received::Applied).then_some(line));
            report.outcome(|| what, result);
        }
        if !page.has_more || starting_after.is_none() {
            break;
        }
    }
    Ok(())
}

async fn announce_expiring(services: &Services, config: &ReconcileConfig, report: &mut Report) {
    let authorised: Result<Vec<(Payment, Account)>, Error> = services
        .db
        .run(|conn| {
            db::payments::in_status_without_action(conn, PaymentStatus::RequiresCapture, EXPIRING)
                .map_err(Error::from)
        })
        .await;
    let authorised = match authorised {
        Ok(authorised) => authorised,
        Err(e) => return report.failures.push(format!("authorised payments: {e}")),
    };
    let horizon = config.clock.timestamp() + config.expiring_within.as_secs() as i64;
    for (payment, account) in authorised {
        let what = format!(
            "payment {} (account {})",
            payment.external_transaction_id, account.external_account_id
        );
        let result = announce_one(services, payment, account, horizon).await;
        report.outcome(|| what, result);
    }
}

async fn announce_one(
    services: &Services,
    payment: Payment,
    account: Account,
    horizon: i64,
) -> Result<Option<String>, Error> {
    let Some(intent_id) = payment.stripe_payment_intent_id.clone() else {
        return Ok(None);
    };
    // The deadline recorded on the payment (from its charge) when known: no Stripe call. Else
    // read from the charge, and recorded with the authorisation's other facts.
    let capture_before = match payment.capture_before {
        Some(known) => Some(known.and_utc().timestamp()),
        None => {
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
            crate::flows::payment_updates::observe_intent(
                services,
                payment.clone(),
                &intent,
                crate::payment_state::Source::Sync,
                crate::flows::payments::STRIPE_ACTOR,
            )
            .await?;
            capture_before
        }
    };
    let Some(deadline) = capture_before.filter(|t| *t <= horizon) else {
        return Ok(None);
    };
    let id = payment.id.clone();
    // Checked again under the payment's lock: two reconcilers (or a capture meanwhile) never
    // announce it twice, nor after it stopped awaiting capture.
    let announced = services
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let locked = payment_flows::lock(conn, &id)?;
                let before = db::payment_history::has_action(conn, &id, EXPIRING)?;
                if before || locked.status != PaymentStatus::RequiresCapture {
                    return Ok(false);
                }
                crate::flows::payment_updates::apply(
                    conn,
                    &id,
                    PaymentUpdate::Expiring,
                    "reconciler",
                )
                .map(|applied| applied.changed)
            })
        })
        .await?;
    if !announced {
        return Ok(None);
    }
    Ok(Some(format!(
        "payment {} ({intent_id}, account {}): authorisation expires at {} unless captured: payment.authorization_expiring",
        payment.external_transaction_id,
        account.external_account_id,
        chrono::DateTime::from_timestamp(deadline, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::now;

    fn intent(metadata: &[(&str, &str)]) -> PaymentIntent {
        serde_json::from_value(serde_json::json!({
            "id": "pi_1", "object": "payment_intent", "amount": 1000, "currency": "usd",
            "status": "requires_payment_method", "capture_method": "manual", "created": 0,
            "metadata": metadata.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
        }))
        .unwrap()
    }

    fn account() -> Account {
        Account {
            id: "a".into(),
            external_account_id: "acme".into(),
            display_name: None,
            default_currency: crate::money::Currency::parse("usd").unwrap(),
            stripe_account_id: None,
            stripe_secret_key_enc: None,
            webhook_url: None,
            created_at: now(),
            updated_at: now(),
            webhook_secret_enc: None,
            stripe_webhook_secret_enc: None,
            address_line1: None,
            address_line2: None,
            address_city: None,
            address_state: None,
            address_postal_code: None,
            address_country: None,
            time_zone: "UTC".into(),
        }
    }

    fn payment() -> Payment {
        Payment::sample()
    }

    #[test]
    fn a_search_hit_counts_only_if_its_metadata_names_the_payment() {
        let (account, payment) = (account(), payment());
        let ours = intent(&[
            ("external_account_id", "acme"),
            ("external_transaction_id", "tx-1"),
        ]);
        assert!(names_payment(&ours, &account, &payment));
        for wrong in [
            intent(&[
                ("external_account_id", "other"),
                ("external_transaction_id", "tx-1"),
            ]),
            intent(&[
                ("external_account_id", "acme"),
                ("external_transaction_id", "TX-1"),
            ]),
            intent(&[("external_transaction_id", "tx-1")]),
            intent(&[]),
        ] {
            assert!(
                !names_payment(&wrong, &account, &payment),
                "{:?}",
                wrong.metadata
            );
        }
    }
}
