//! Disputes of our payments: recorded from Stripe's signed `charge.dispute.*` events (and from
//! the answers to our own evidence and accept calls) through `crate::dispute_state::decide`, so
//! duplicated and out-of-order events change nothing backwards and announce each change to the
//! merchant once; evidence (text and uploaded files) and accepting the loss, at Stripe.
//!
//! A dispute is matched to the payment by its PaymentIntent. One that arrives before any payment
//! has recorded that intent (a Checkout payment whose completion is still on its way) is parked:
//! stored without payment and account, and attached — and announced — when the payment records
//! the intent (`adopt`, from `payment_updates::apply`).

use super::webhooks::Scope;
use super::Services;
use crate::db::models::{new_id, now, Account, Dispute, Payment};
use crate::db::{self, write_transaction, DbConnection, Inserted};
use crate::dispute_state::{decide, DisputeStatus, Observed, Recorded};
use crate::error::Error;
use crate::money::{Currency, MinorUnits};
use chrono::NaiveDateTime;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use stripe_client::{FilePurpose, UpdateDispute, UploadFile};

/// A dispute as the API shows it: the row and its payment's external id.
#[derive(Debug, Clone)]
pub struct DisputeView {
    pub dispute: Dispute,
    pub external_transaction_id: String,
}

/// What Stripe says about a dispute, checked: `None` (logged) when it is not one of ours to
/// record (no PaymentIntent) or contradicts itself.
struct Checked {
    stripe_id: String,
    intent_id: String,
    charge_id: String,
    amount: MinorUnits,
    currency: Currency,
    reason: String,
    observed: Observed,
    evidence: String,
    opened_at: NaiveDateTime,
}

fn check(dispute: &stripe_client::Dispute) -> Option<Checked> {
    let ignore = |why: &str| {
        log::warn!("Stripe dispute {} ignored: {why}", dispute.id);
        None
    };
    let Some(intent) = dispute.payment_intent.as_ref().map(|i| i.id().to_string()) else {
        return ignore("it names no PaymentIntent");
    };
    let Some(status) = DisputeStatus::parse(dispute.status.as_str()) else {
        return ignore(&format!("status {} is not handled", dispute.status));
    };
    let Ok(currency) = Currency::parse(&dispute.currency) else {
        return ignore(&format!("unknown currency {}", dispute.currency));
    };
    let Ok(amount) = MinorUnits::new(dispute.amount) else {
        return ignore("negative amount");
    };
    let (mut withdrawn, mut reinstated, mut fee) = (0i64, 0i64, 0i64);
    for bt in &dispute.balance_transactions {
        if bt.currency != dispute.currency || bt.fee < 0 {
            return ignore("a balance transaction in another currency, or a negative fee");
        }
        if bt.amount < 0 {
            withdrawn = withdrawn.checked_add(-bt.amount)?;
        } else {
            reinstated = reinstated.checked_add(bt.amount)?;
        }
        fee = fee.checked_add(bt.fee)?;
    }
    if withdrawn > amount.get() || reinstated > withdrawn {
        return ignore("its balance transactions move more than the disputed amount");
    }
    let evidence = serde_json::to_value(&dispute.evidence)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
        .collect::<Map<String, Value>>();
    let opened_at = chrono::DateTime::from_timestamp(dispute.created, 0)?.naive_utc();
    Some(Checked {
        stripe_id: dispute.id.clone(),
        intent_id: intent,
        charge_id: dispute.charge.id().to_string(),
        amount,
        currency,
        reason: dispute.reason.clone(),
        observed: Observed {
            status,
            amount_withdrawn: withdrawn,
            amount_reinstated: reinstated,
            fee,
            submission_count: dispute.evidence_details.submission_count,
            evidence_due_by: dispute.evidence_details.due_by.filter(|t| *t > 0),
        },
        evidence: Value::Object(evidence).to_string(),
        opened_at,
    })
}

fn recorded(row: &Dispute) -> Recorded {
    Recorded {
        status: row.status,
        amount_withdrawn: row.amount_withdrawn.get(),
        amount_reinstated: row.amount_reinstated.get(),
        fee: row.fee.get(),
        submission_count: row.submission_count,
        evidence_due_by: row.evidence_due_by.map(|t| t.and_utc().timestamp()),
    }
}

fn minor(n: i64) -> Result<MinorUnits, Error> {
    MinorUnits::new(n).map_err(|_| Error::internal("a dispute amount went negative"))
}

fn apply_recorded(row: &mut Dispute, after: &Recorded) -> Result<(), Error> {
    row.status = after.status;
    row.amount_withdrawn = minor(after.amount_withdrawn)?;
    row.amount_reinstated = minor(after.amount_reinstated)?;
    row.fee = minor(after.fee)?;
    row.submission_count = after.submission_count;
    row.evidence_due_by = after
        .evidence_due_by
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.naive_utc());
    Ok(())
}

/// Records what Stripe says about a dispute (inside the caller's write transaction), within
/// `scope`.
pub fn record(
    conn: &mut DbConnection,
    dispute: &stripe_client::Dispute,
    scope: &Scope,
) -> Result<(), Error> {
    let Some(seen) = check(dispute) else {
        return Ok(());
    };
    let payment = db::payments::find_by_intent_id(conn, &seen.intent_id)?;
    let (payment, parked_account) = match payment {
        Some(p) if scope.allows(&p.account_id) => (Some(p), None),
        // Another merchant's payment: not this event's to change.
        Some(_) => return Ok(()),
        None => match scope {
            Scope::Platform => (None, None),
            Scope::Account(Some(account)) => (None, Some(account.clone())),
            Scope::Account(None) => return Ok(()),
        },
    };
    if let Some(p) = &payment {
        if seen.currency != p.currency || seen.amount > p.amount_captured.max(p.amount) {
            log::warn!(
                "Stripe dispute {} ignored: its amount or currency contradicts payment {}",
                seen.stripe_id,
                p.id
            );
            return Ok(());
        }
    }
    let existing = db::disputes::lock_by_stripe_id(conn, &seen.stripe_id)?;
    let existing = match existing {
        Some(row) => row,
        None => {
            let decision = decide(None, &seen.observed);
            let at = now();
            let mut row = Dispute {
                id: new_id(),
                stripe_dispute_id: seen.stripe_id.clone(),
                stripe_payment_intent_id: seen.intent_id.clone(),
                stripe_charge_id: seen.charge_id.clone(),
                payment_id: payment.as_ref().map(|p| p.id.clone()),
                account_id: payment
                    .as_ref()
                    .map(|p| p.account_id.clone())
                    .or(parked_account),
                amount: seen.amount,
                currency: seen.currency,
                reason: seen.reason.clone(),
                status: decision.after.status,
                amount_withdrawn: MinorUnits::ZERO,
                amount_reinstated: MinorUnits::ZERO,
                fee: MinorUnits::ZERO,
                evidence_due_by: None,
                submission_count: 0,
                evidence: seen.evidence.clone(),
                opened_at: seen.opened_at,
                created_at: at,
                updated_at: at,
            };
            apply_recorded(&mut row, &decision.after)?;
            match db::disputes::insert(conn, &row)? {
                Inserted::New(()) => {
                    if let Some(p) = &payment {
                        announce(conn, &row, p, &decision.events)?;
                    }
                    return Ok(());
                }
                // Recorded at the same moment by another delivery: merge into that row.
                Inserted::Duplicate => db::disputes::lock_by_stripe_id(conn, &seen.stripe_id)?
                    .ok_or_else(|| Error::internal("a dispute vanished while recorded"))?,
            }
        }
    };
    if existing.payment_id.is_some()
        && existing.payment_id != payment.as_ref().map(|p| p.id.clone())
    {
        return Ok(());
    }
    let decision = decide(Some(&recorded(&existing)), &seen.observed);
    let mut row = existing.clone();
    apply_recorded(&mut row, &decision.after)?;
    // The evidence Stripe holds now, unless this is an older view of a submitted dispute.
    if seen.observed.submission_count >= existing.submission_count {
        row.evidence = seen.evidence.clone();
    }
    // Parked, and now the payment is known: attach it and announce its whole life so far (not
    // if another merchant's own secret parked it).
    let adopting = existing.payment_id.is_none() && payment.is_some();
    if let (true, Some(p), Some(parked_for)) = (adopting, &payment, &existing.account_id) {
        if *parked_for != p.account_id {
            return Ok(());
        }
    }
    if let (true, Some(p)) = (adopting, &payment) {
        row.payment_id = Some(p.id.clone());
        row.account_id = Some(p.account_id.clone());
    }
    if row != existing {
        row.updated_at = now();
        db::disputes::update(conn, &row)?;
    }
    if let Some(p) = &payment {
        let events = if adopting {
            decide(None, &observed_of(&row)).events
        } else {
            decision.events
        };
        announce(conn, &row, p, &events)?;
    }
    Ok(())
}

/// The row's state as an observation (to announce a parked dispute's life when attached).
fn observed_of(row: &Dispute) -> Observed {
    Observed {
        status: row.status,
        amount_withdrawn: row.amount_withdrawn.get(),
        amount_reinstated: row.amount_reinstated.get(),
        fee: row.fee.get(),
        submission_count: row.submission_count,
        evidence_due_by: row.evidence_due_by.map(|t| t.and_utc().timestamp()),
    }
}

/// Attaches the parked disputes of the PaymentIntent `payment` has just recorded, and announces
/// them (inside the caller's transaction).
pub fn adopt(conn: &mut DbConnection, payment: &Payment) -> Result<(), Error> {
    let Some(intent) = &payment.stripe_payment_intent_id else {
        return Ok(());
    };
    for mut row in db::disputes::parked_for_intent(conn, intent)? {
        if row
            .account_id
            .as_ref()
            .is_some_and(|a| *a != payment.account_id)
            || row.currency != payment.currency
            || row.amount > payment.amount_captured.max(payment.amount)
        {
            continue;
        }
        row.payment_id = Some(payment.id.clone());
        row.account_id = Some(payment.account_id.clone());
        row.updated_at = now();
        db::disputes::update(conn, &row)?;
        let events = decide(None, &observed_of(&row)).events;
        announce(conn, &row, payment, &events)?;
    }
    Ok(())
}

fn announce(
    conn: &mut DbConnection,
    row: &Dispute,
    payment: &Payment,
    events: &[&'static str],
) -> Result<(), Error> {
    for event in events {
        super::events::emit_dispute(conn, row, payment, event)?;
    }
    Ok(())
}

/// The account's dispute (`dp_…`), or 404.
fn load(
    conn: &mut DbConnection,
    external_account_id: &str,
    dispute_id: &str,
) -> Result<(Account, DisputeView), Error> {
    let account = super::accounts::require(conn, external_account_id)?;
    let dispute = db::disputes::find(conn, &account.id, dispute_id)?
        .filter(|d| d.payment_id.is_some())
        .ok_or_else(|| Error::not_found("no such dispute"))?;
    let payment = db::payments::by_id(conn, dispute.payment_id.as_deref().unwrap_or_default())?;
    Ok((
        account,
        DisputeView {
            dispute,
            external_transaction_id: payment.external_transaction_id,
        },
    ))
}

pub async fn get(
    services: &Services,
    external_account_id: String,
    dispute_id: String,
) -> Result<DisputeView, Error> {
    services
        .db
        .run(move |conn| load(conn, &external_account_id, &dispute_id).map(|(_, v)| v))
        .await
}

/// Filters of `GET /v1/disputes`.
#[derive(Debug, Clone)]
pub struct DisputeFilter {
    pub status: Option<DisputeStatus>,
    /// A PaymentIntent id (`pi_…`).
    pub payment: Option<String>,
    pub limit: i64,
    /// A dispute id (`dp_…`).
    pub starting_after: Option<String>,
}

/// The account's disputes, newest first, and whether more follow.
pub async fn list(
    services: &Services,
    external_account_id: String,
    filter: DisputeFilter,
) -> Result<(Vec<DisputeView>, bool), Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let before_id = match &filter.starting_after {
                Some(cursor) => Some(
                    db::disputes::find(conn, &account.id, cursor)?
                        .filter(|d| d.payment_id.is_some())
                        .ok_or_else(|| {
                            Error::invalid(
                                "starting_after",
                                "'starting_after' is not a dispute of this account",
                            )
                        })?
                        .id,
                ),
                None => None,
            };
            let payment = match &filter.payment {
                Some(intent) => match db::payments::find_by_intent(conn, &account.id, intent)? {
                    Some(p) => Some(p),
                    None => return Ok((Vec::new(), false)),
                },
                None => None,
            };
            let mut rows = db::disputes::list(
                conn,
                &account.id,
                &db::disputes::Filter {
                    status: filter.status,
                    payment_id: payment.as_ref().map(|p| p.id.as_str()),
                    before_id: before_id.as_deref(),
                    limit: filter.limit + 1,
                },
            )?;
            let has_more = rows.len() as i64 > filter.limit;
            rows.truncate(filter.limit as usize);
            let mut views = Vec::with_capacity(rows.len());
            let mut payments: BTreeMap<String, String> = BTreeMap::new();
            for dispute in rows {
                let payment_id = dispute.payment_id.clone().unwrap_or_default();
                let external = match payments.get(&payment_id) {
                    Some(e) => e.clone(),
                    None => {
                        let e = db::payments::by_id(conn, &payment_id)?.external_transaction_id;
                        payments.insert(payment_id, e.clone());
                        e
                    }
                };
                views.push(DisputeView {
                    dispute,
                    external_transaction_id: external,
                });
            }
            Ok((views, has_more))
        })
        .await
}

/// A file given as evidence.
#[derive(Debug, Clone)]
pub struct EvidenceFile {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Evidence for a dispute: Stripe's text fields, files for its document fields, and whether to
/// submit (else it is staged at Stripe).
#[derive(Debug, Clone)]
pub struct Evidence {
    pub text: BTreeMap<String, String>,
    pub files: BTreeMap<String, EvidenceFile>,
    pub submit: bool,
}

fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

/// Uploads the files, then gives Stripe the evidence; records the dispute as Stripe answers.
pub async fn give_evidence(
    services: &Services,
    external_account_id: String,
    dispute_id: String,
    evidence: Evidence,
) -> Result<DisputeView, Error> {
    let (account, view) = {
        let (ext, id) = (external_account_id.clone(), dispute_id.clone());
        services.db.run(move |conn| load(conn, &ext, &id)).await?
    };
    require_open(&view.dispute)?;
    let stripe = services.stripe_account(&account)?;
    let mut fields: Vec<(String, String)> = evidence
        .text
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (field, file) in &evidence.files {
        let key = format!(
            "dpf_{}",
            digest(&[
                view.dispute.stripe_dispute_id.as_bytes(),
                field.as_bytes(),
                file.filename.as_bytes(),
                &file.bytes
            ])
        );
        let uploaded = services
            .stripe
            .upload_file(
                &stripe,
                &UploadFile {
                    purpose: FilePurpose::DisputeEvidence,
                    filename: &file.filename,
                    content_type: &file.content_type,
                    bytes: &file.bytes,
                },
                &key,
            )
            .await
            .map_err(|e| Error::from_stripe_input(e, Some("file"), &format!("files.{field}")))?;
        fields.push((field.clone(), uploaded.id));
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let canonical: Vec<u8> =
        serde_json::to_vec(&(&fields, evidence.submit)).map_err(Error::internal)?;
    let key = format!(
        "dpe_{}",
        digest(&[
            view.dispute.stripe_dispute_id.as_bytes(),
            view.dispute.submission_count.to_string().as_bytes(),
            &canonical
        ])
    );
    let updated = services
        .stripe
        .update_dispute(
            &stripe,
            &view.dispute.stripe_dispute_id,
            &UpdateDispute {
                evidence: &pairs,
                metadata: None,
                submit: Some(evidence.submit),
            },
            &key,
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "dispute_id"))?;
    record_answer(services, &account, updated, external_account_id, dispute_id).await
}

/// Accepts the loss: closes the dispute at Stripe and records the answer.
pub async fn accept(
    services: &Services,
    external_account_id: String,
    dispute_id: String,
) -> Result<DisputeView, Error> {
    let (account, view) = {
        let (ext, id) = (external_account_id.clone(), dispute_id.clone());
        services.db.run(move |conn| load(conn, &ext, &id)).await?
    };
    require_open(&view.dispute)?;
    let stripe = services.stripe_account(&account)?;
    let key = format!(
        "dpc_{}",
        digest(&[view.dispute.stripe_dispute_id.as_bytes()])
    );
    let closed = services
        .stripe
        .close_dispute(&stripe, &view.dispute.stripe_dispute_id, &key)
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "dispute_id"))?;
    record_answer(services, &account, closed, external_account_id, dispute_id).await
}

fn require_open(dispute: &Dispute) -> Result<(), Error> {
    if dispute.status.needs_response() {
        Ok(())
    } else {
        Err(Error::conflict(
            "dispute_not_open",
            format!(
                "dispute {} is {}: it takes no more evidence",
                dispute.stripe_dispute_id, dispute.status
            ),
        ))
    }
}

async fn record_answer(
    services: &Services,
    account: &Account,
    answer: stripe_client::Dispute,
    external_account_id: String,
    dispute_id: String,
) -> Result<DisputeView, Error> {
    let scope = Scope::of(Some(account));
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                record(conn, &answer, &scope)?;
                load(conn, &external_account_id, &dispute_id).map(|(_, v)| v)
            })
        })
        .await
}
