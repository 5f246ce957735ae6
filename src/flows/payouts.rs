//! Payouts of our merchants' Stripe accounts, reconciled: recorded from Stripe's signed
//! `payout.*` events (and the reconciler's replay of missed ones); when a payout is paid, its
//! balance transactions are read from Stripe (`GET /v1/balance_transactions?payout=`, every
//! page, sources expanded) and stored as its items, matched to our payments (a charge's or a
//! dispute's PaymentIntent) and refunds (by Stripe refund id); the rest are kept unmatched.
//!
//! The read happens before the event is stored (`webhooks::store_and_apply`): when Stripe cannot
//! be reached the event is not stored, the webhook answers 5xx and Stripe delivers it again (or
//! the reconciler replays it), so nothing is lost. Recording is idempotent — the payout row is
//! unique per Stripe id, items per payout and balance transaction, merchant events per payout and
//! status — and a status only moves forward (`crate::payout_state`), so duplicated and
//! out-of-order events change nothing backwards.
//!
//! A payout belongs to the merchant whose Stripe account made it: a connected account's (the
//! event's `account`), or one with its own key (the reconciler reads its events). The platform's
//! own payouts mix every platform merchant's money and are nobody's: ignored.

use super::webhooks::Scope;
use super::Services;
use crate::db::models::{new_id, now, Account, Payout, PayoutItem};
use crate::db::{self, write_transaction, DbConnection, Inserted};
use crate::error::Error;
use crate::money::{Currency, MinorUnits};
use crate::payout_state::PayoutStatus;
use serde_json::Value;
use std::collections::BTreeMap;
use stripe_client::{BalanceTransaction, BalanceTransactionType, Event, Expandable};

/// One item as the API shows it: the row and, for ours, the payment's ids.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub item: PayoutItem,
    /// The payment's PaymentIntent (`pi_…`) and external transaction id.
    pub payment: Option<(String, String)>,
}

/// A payout with its items and their sums.
#[derive(Debug, Clone)]
pub struct PayoutView {
    pub payout: Payout,
    pub items: Vec<ItemView>,
    pub totals: Totals,
}

/// Sums of a payout's items, in signed minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub gross: i64,
    pub fee: i64,
    pub net: i64,
    pub count: i64,
}

impl Totals {
    fn of(items: &[PayoutItem]) -> Totals {
        items.iter().fold(Totals::default(), |t, i| Totals {
            gross: t.gross.saturating_add(i.gross),
            fee: t.fee.saturating_add(i.fee),
            net: t.net.saturating_add(i.net),
            count: t.count + 1,
        })
    }
}

/// What Stripe says about a payout, checked.
#[derive(Debug, Clone)]
struct Seen {
    stripe_id: String,
    amount: MinorUnits,
    currency: Currency,
    status: PayoutStatus,
    arrival_date: chrono::NaiveDateTime,
    failure_code: Option<String>,
    failure_message: Option<String>,
    automatic: bool,
}

fn check(payout: &stripe_client::Payout) -> Option<Seen> {
    let ignore = |why: &str| {
        log::warn!("Stripe payout {} ignored: {why}", payout.id);
        None
    };
    let Some(status) = PayoutStatus::parse(payout.status.as_str()) else {
        return ignore(&format!("status {} is not handled", payout.status));
    };
    let Ok(currency) = Currency::parse(&payout.currency) else {
        return ignore(&format!("unknown currency {}", payout.currency));
    };
    let Ok(amount) = MinorUnits::new(payout.amount) else {
        return ignore("negative amount");
    };
    let Some(arrival) = chrono::DateTime::from_timestamp(payout.arrival_date, 0) else {
        return ignore("arrival date out of range");
    };
    Some(Seen {
        stripe_id: payout.id.clone(),
        amount,
        currency,
        status,
        arrival_date: arrival.naive_utc(),
        failure_code: payout.failure_code.clone(),
        failure_message: payout.failure_message.clone(),
        automatic: payout.automatic,
    })
}

/// Records a `payout.*` event within `scope`: reads the payout's balance transactions from
/// Stripe first when it is paid and not yet reconciled (an error here leaves the event to be
/// delivered again), then records the payout and its items in one transaction.
pub async fn record_event(services: &Services, event: &Event, scope: &Scope) -> Result<(), Error> {
    let payout = match event.object::<stripe_client::Payout>() {
        Ok(p) => p,
        Err(e) => {
            log::warn!(
                "Stripe event {} ({}) ignored: its object does not decode: {e}",
                event.id,
                event.event_type
            );
            return Ok(());
        }
    };
    let Some(seen) = check(&payout) else {
        return Ok(());
    };
    let Scope::Account(Some(account_id)) = scope else {
        log::info!(
            "Stripe payout {} ignored: not a merchant's Stripe account",
            seen.stripe_id
        );
        return Ok(());
    };
    let (account, existing) = {
        let (account_id, stripe_id) = (account_id.clone(), seen.stripe_id.clone());
        services
            .db
            .run(move |conn| {
                let account = db::accounts::by_id(conn, &account_id)?;
                let existing = db::payouts::find(conn, &account_id, &stripe_id)?;
                Ok::<_, Error>((account, existing))
            })
            .await?
    };
    // Only a payout that is (or now becomes) paid has its transactions read, once.
    let wanted = existing.as_ref().is_none_or(|p| {
        !p.reconciled && (p.status == PayoutStatus::Paid || p.status.may_become(PayoutStatus::Paid))
    });
    let transactions = if seen.status == PayoutStatus::Paid && seen.automatic && wanted {
        let context = services.stripe_account(&account)?;
        Some(
            services
                .stripe
                .payout_balance_transactions(&context, &seen.stripe_id)
                .await?,
        )
    } else {
        None
    };
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                record(conn, &account, &seen, transactions.as_deref())
            })
        })
        .await
}

fn record(
    conn: &mut DbConnection,
    account: &Account,
    seen: &Seen,
    transactions: Option<&[BalanceTransaction]>,
) -> Result<(), Error> {
    let existing = match db::payouts::lock_by_stripe_id(conn, &seen.stripe_id)? {
        Some(row) => Some(row),
        None => {
            let at = now();
            let row = Payout {
                id: new_id(),
                stripe_payout_id: seen.stripe_id.clone(),
                account_id: account.id.clone(),
                amount: seen.amount,
                currency: seen.currency,
                status: seen.status,
                arrival_date: seen.arrival_date,
                failure_code: seen.failure_code.clone(),
                failure_message: seen.failure_message.clone(),
                reconciled: false,
                created_at: at,
                updated_at: at,
            };
            match db::payouts::insert(conn, &row)? {
                Inserted::New(()) => {
                    let stored = store_items(conn, account, row.clone(), transactions)?;
                    if stored != row {
                        db::payouts::update(conn, &stored)?;
                    }
                    return announce(conn, account, &stored, seen.status);
                }
                // Recorded at the same moment by another delivery: merge into that row.
                Inserted::Duplicate => db::payouts::lock_by_stripe_id(conn, &seen.stripe_id)?,
            }
        }
    };
    let existing = existing.ok_or_else(|| Error::internal("a payout vanished while recorded"))?;
    if existing.account_id != account.id {
        // Another merchant's payout id: not this event's to change.
        return Ok(());
    }
    let mut row = existing.clone();
    let moved = existing.status.may_become(seen.status);
    if moved {
        row.status = seen.status;
        row.arrival_date = seen.arrival_date;
        if seen.failure_code.is_some() {
            row.failure_code = seen.failure_code.clone();
            row.failure_message = seen.failure_message.clone();
        }
    }
    let mut row = store_items(conn, account, row, transactions)?;
    if row != existing {
        row.updated_at = now();
        db::payouts::update(conn, &row)?;
    }
    if moved {
        announce(conn, account, &row, seen.status)?;
    }
    Ok(())
}

/// Stores the payout's items from its balance transactions (once), and marks it reconciled.
fn store_items(
    conn: &mut DbConnection,
    account: &Account,
    mut row: Payout,
    transactions: Option<&[BalanceTransaction]>,
) -> Result<Payout, Error> {
    let Some(transactions) = transactions else {
        return Ok(row);
    };
    if row.reconciled || row.status != PayoutStatus::Paid {
        return Ok(row);
    }
    let at = now();
    let mut items = Vec::new();
    // Oldest first, as they happened (Stripe lists newest first).
    for txn in transactions.iter().rev() {
        if txn.transaction_type == BalanceTransactionType::Payout {
            // The payout's own transaction: the payout itself, not something it pays.
            continue;
        }
        if txn.currency != row.currency.code() {
            log::warn!(
                "balance transaction {} of payout {} is in {}, not {}: kept unmatched",
                txn.id,
                row.stripe_payout_id,
                txn.currency,
                row.currency
            );
        }
        let (payment_id, stripe_refund_id) = match_item(conn, account, txn)?;
        items.push(PayoutItem {
            // In the order they happened: the payout's id and the item's position.
            id: format!("{}-{:06}", row.id, items.len()),
            payout_id: row.id.clone(),
            stripe_balance_transaction_id: txn.id.clone(),
            transaction_type: txn.transaction_type.as_str().to_string(),
            stripe_source_id: txn.source_id().map(str::to_string),
            payment_id,
            stripe_refund_id,
            gross: txn.amount,
            fee: txn.fee,
            net: txn.net,
            created_at: at,
        });
    }
    db::payouts::insert_items(conn, &items)?;
    let totals = Totals::of(&items);
    if totals.net != row.amount.get() {
        log::warn!(
            "payout {}: its items net {} but it pays {} (minor units)",
            row.stripe_payout_id,
            totals.net,
            row.amount
        );
    }
    row.reconciled = true;
    Ok(row)
}

/// Our payment (internal id) and Stripe refund id a balance transaction is about, when it is one
/// of this account's: a charge or a dispute adjustment by its PaymentIntent, a refund by our
/// refund record (else by its PaymentIntent).
fn match_item(
    conn: &mut DbConnection,
    account: &Account,
    txn: &BalanceTransaction,
) -> Result<(Option<String>, Option<String>), Error> {
    let source: Option<&Value> = match &txn.source {
        Some(Expandable::Object(object)) => Some(object),
        _ => None,
    };
    let intent = source.and_then(|s| s["payment_intent"].as_str());
    let ours = |conn: &mut DbConnection, intent: Option<&str>| -> Result<Option<String>, Error> {
        let Some(intent) = intent else {
            return Ok(None);
        };
        Ok(db::payments::find_by_intent_id(conn, intent)?
            .filter(|p| p.account_id == account.id && p.currency.code() == txn.currency)
            .map(|p| p.id))
    };
    match &txn.transaction_type {
        BalanceTransactionType::Charge | BalanceTransactionType::Payment => {
            Ok((ours(conn, intent)?, None))
        }
        BalanceTransactionType::Refund | BalanceTransactionType::PaymentRefund => {
            let Some(refund) = txn.source_id() else {
                return Ok((None, None));
            };
            let recorded = db::refunds::payment_of(conn, refund)?;
            let payment = match recorded {
                Some(payment) => db::payments::by_id(conn, &payment)
                    .ok()
                    .filter(|p| p.account_id == account.id)
                    .map(|p| p.id),
                None => ours(conn, intent)?,
            };
            let refund = payment.as_ref().map(|_| refund.to_string());
            Ok((payment, refund))
        }
        BalanceTransactionType::Adjustment if source.is_some_and(|s| s["object"] == "dispute") => {
            Ok((ours(conn, intent)?, None))
        }
        _ => Ok((None, None)),
    }
}

fn announce(
    conn: &mut DbConnection,
    account: &Account,
    row: &Payout,
    status: PayoutStatus,
) -> Result<(), Error> {
    let Some(event) = status.merchant_event() else {
        return Ok(());
    };
    let items = db::payouts::items(conn, &row.id)?;
    super::events::emit_payout(conn, account, row, &Totals::of(&items), event)
}

/// The account's payout (`po_…`) with its items, or 404.
fn load(
    conn: &mut DbConnection,
    external_account_id: &str,
    payout_id: &str,
) -> Result<PayoutView, Error> {
    let account = super::accounts::require(conn, external_account_id)?;
    let payout = db::payouts::find(conn, &account.id, payout_id)?
        .ok_or_else(|| Error::not_found("no such payout"))?;
    let rows = db::payouts::items(conn, &payout.id)?;
    let totals = Totals::of(&rows);
    let mut payments: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for item in rows {
        let payment = match &item.payment_id {
            Some(id) => match payments.get(id) {
                Some(p) => Some(p.clone()),
                None => {
                    let p = db::payments::by_id(conn, id)?;
                    let ids = (
                        p.stripe_payment_intent_id.unwrap_or_default(),
                        p.external_transaction_id,
                    );
                    payments.insert(id.clone(), ids.clone());
                    Some(ids)
                }
            },
            None => None,
        };
        items.push(ItemView { item, payment });
    }
    Ok(PayoutView {
        payout,
        items,
        totals,
    })
}

pub async fn get(
    services: &Services,
    external_account_id: String,
    payout_id: String,
) -> Result<PayoutView, Error> {
    services
        .db
        .run(move |conn| load(conn, &external_account_id, &payout_id))
        .await
}

/// Filters of `GET /v1/payouts`.
#[derive(Debug, Clone)]
pub struct PayoutFilter {
    pub status: Option<PayoutStatus>,
    pub limit: i64,
    /// A payout id (`po_…`).
    pub starting_after: Option<String>,
}

/// The account's payouts (with their totals), newest first, and whether more follow.
pub async fn list(
    services: &Services,
    external_account_id: String,
    filter: PayoutFilter,
) -> Result<(Vec<(Payout, Totals)>, bool), Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let before_id = match &filter.starting_after {
                Some(cursor) => Some(
                    db::payouts::find(conn, &account.id, cursor)?
                        .ok_or_else(|| {
                            Error::invalid(
                                "starting_after",
                                "'starting_after' is not a payout of this account",
                            )
                        })?
                        .id,
                ),
                None => None,
            };
            let mut rows = db::payouts::list(
                conn,
                &account.id,
                &db::payouts::Filter {
                    status: filter.status,
                    before_id: before_id.as_deref(),
                    limit: filter.limit + 1,
                },
            )?;
            let has_more = rows.len() as i64 > filter.limit;
            rows.truncate(filter.limit as usize);
            // The page's items in one statement, summed per payout.
            let ids: Vec<&str> = rows.iter().map(|p| p.id.as_str()).collect();
            let mut items: std::collections::HashMap<String, Vec<PayoutItem>> =
                std::collections::HashMap::new();
            for item in db::payouts::items_of(conn, &ids)? {
                items.entry(item.payout_id.clone()).or_default().push(item);
            }
            let out = rows
                .into_iter()
                .map(|payout| {
                    let totals = Totals::of(items.get(&payout.id).map_or(&[][..], Vec::as_slice));
                    (payout, totals)
                })
                .collect();
            Ok((out, has_more))
        })
        .await
}
