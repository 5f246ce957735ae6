//! `api_idempotency`: the `Idempotency-Key`s callers sent on our POSTs, per scope, and the
//! responses to replay: [`IN_PROGRESS`] while the request runs, then [`COMPLETED`].

use super::models::{now, ApiIdempotency};
use super::schema::api_idempotency;
use super::{update_cached, DbConnection, Inserted};
use diesel::prelude::*;

pub const IN_PROGRESS: &str = "in_progress";
pub const COMPLETED: &str = "completed";

pub fn find(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
) -> QueryResult<Option<ApiIdempotency>> {
    api_idempotency::table
        .filter(api_idempotency::scope.eq(scope))
        .filter(api_idempotency::idempotency_key.eq(key))
        .select(ApiIdempotency::as_select())
        .first(conn)
        .optional()
}

/// Claims the key; `Duplicate` when another request holds `(scope, key)` already.
pub fn insert(conn: &mut DbConnection, row: &ApiIdempotency) -> QueryResult<Inserted<()>> {
    let count = insert_or_skip!(
        conn,
        diesel::insert_into(api_idempotency::table).values(row)
    )?;
    Ok(Inserted::from_count(count, ()))
}

/// Deletes row `id` if it is still in `status`; whether it did.
pub fn delete_in_status(conn: &mut DbConnection, id: &str, status: &str) -> QueryResult<bool> {
    diesel::delete(
        api_idempotency::table
            .filter(api_idempotency::id.eq(id))
            .filter(api_idempotency::status.eq(status)),
    )
    .execute(conn)
    .map(|deleted| deleted > 0)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(api_idempotency::table.filter(api_idempotency::id.eq(id)))
        .execute(conn)
        .map(|_| ())
}

/// Stores the response of the `in_progress` row `id` and completes it.
pub fn complete(
    conn: &mut DbConnection,
    id: &str,
    status: i64,
    content_type: Option<String>,
    body: String,
) -> QueryResult<()> {
    update_cached(
        api_idempotency::table,
        api_idempotency::id
            .eq(id)
            .and(api_idempotency::status.eq(IN_PROGRESS)),
        (
            api_idempotency::status.eq(COMPLETED),
            api_idempotency::response_status.eq(Some(status)),
            api_idempotency::response_content_type.eq(content_type),
            api_idempotency::response_body.eq(Some(body)),
            api_idempotency::completed_at.eq(Some(now())),
        ),
    )
    .execute(conn)
    .map(|_| ())
}
