//! `webhook_deliveries`: the outbox of events for merchants, one row per event, with its delivery
//! state ([`PENDING`], [`DELIVERED`], [`FAILED`]) and attempts.

use super::models::WebhookDelivery;
use super::schema::webhook_deliveries;
use super::{update_cached, DbConnection, Inserted};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Status of an outbox row.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Queues the row; `Duplicate` when an event with the same `dedupe_key` is queued already.
pub fn insert(conn: &mut DbConnection, row: &WebhookDelivery) -> QueryResult<Inserted<()>> {
    let count = insert_or_skip!(
        conn,
        diesel::insert_into(webhook_deliveries::table).values(row)
    )?;
    Ok(Inserted::from_count(count, ()))
}

/// Reserves up to `batch` pending rows due at `at` by moving their next attempt to `lease_until`
/// (on PostgreSQL skipping rows another worker holds locked). Run inside a write transaction.
pub fn claim_due(
    conn: &mut DbConnection,
    batch: i64,
    at: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Vec<WebhookDelivery>> {
    macro_rules! due {
        () => {
            webhook_deliveries::table
                .filter(webhook_deliveries::status.eq(PENDING))
                .filter(webhook_deliveries::next_attempt_at.le(at))
                .order(webhook_deliveries::next_attempt_at.asc())
                .limit(batch)
                .select(WebhookDelivery::as_select())
        };
    }
    let rows: Vec<WebhookDelivery> = match conn {
        DbConnection::Pg(pg) => due!().for_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(sqlite) => due!().load(sqlite)?,
    };
    if rows.is_empty() {
        return Ok(rows);
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
        .set(webhook_deliveries::next_attempt_at.eq(lease_until))
        .execute(conn)?;
    Ok(rows)
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: &'static str,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

pub fn record_attempt(conn: &mut DbConnection, id: &str, attempt: Attempt) -> QueryResult<()> {
    on_backend!(conn, conn => {
        update_cached(
            webhook_deliveries::table,
            webhook_deliveries::id.eq(id),
            (
                webhook_deliveries::status.eq(attempt.status),
                webhook_deliveries::attempts.eq(attempt.attempts),
                webhook_deliveries::last_status.eq(attempt.last_status),
                webhook_deliveries::last_error.eq(attempt.last_error),
                webhook_deliveries::next_attempt_at.eq(attempt.next_attempt_at),
                webhook_deliveries::delivered_at.eq(attempt.delivered_at),
            ),
        )
        .execute(conn)
        .map(|_| ())
    })
}

/// The account's deliveries, newest first, optionally of one status.
pub fn list(
    conn: &mut DbConnection,
    account_id: &str,
    status: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<WebhookDelivery>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::account_id.eq(account_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(WebhookDelivery::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status));
    }
    query.load(conn)
}

/// Makes the account's delivery `id` pending and due at `at`; `None` if there is no such
/// delivery.
pub fn reschedule(
    conn: &mut DbConnection,
    account_id: &str,
    id: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<WebhookDelivery>> {
    let changed = diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(id))
            .filter(webhook_deliveries::account_id.eq(account_id)),
    )
    .set((
        webhook_deliveries::status.eq(PENDING),
        webhook_deliveries::next_attempt_at.eq(at),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    webhook_deliveries::table
        .find(id)
        .select(WebhookDelivery::as_select())
        .first(conn)
        .map(Some)
}

/// How many rows are in each of `statuses` (statuses without rows are left out).
pub fn count_by_status(
    conn: &mut DbConnection,
    statuses: &[&str],
) -> QueryResult<Vec<(String, i64)>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq_any(statuses))
        .group_by(webhook_deliveries::status)
        .select((webhook_deliveries::status, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)
}
