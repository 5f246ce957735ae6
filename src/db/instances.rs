//! `instances`: running server processes and their latest heartbeats (`jobs::instances`).

use super::schema::instances;
use super::{update_cached, DbConnection};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The latest heartbeat of instance `id`, if it has a row.
pub fn heartbeat_of(conn: &mut DbConnection, id: &str) -> QueryResult<Option<NaiveDateTime>> {
    instances::table
        .filter(instances::id.eq(id))
        .select(instances::heartbeat_at)
        .first(conn)
        .optional()
}

/// Moves instance `id`'s heartbeat to `at`, creating its row if there is none.
pub fn beat(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
    let updated = update_cached(
        instances::table,
        instances::id.eq(id),
        instances::heartbeat_at.eq(at),
    )
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(id),
                instances::started_at.eq(at),
                instances::heartbeat_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes the rows of instances whose last heartbeat is before `before`.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(instances::table.filter(instances::heartbeat_at.lt(before)))
        .execute(conn)
        .map(|_| ())
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(instances::table.filter(instances::id.eq(id)))
        .execute(conn)
        .map(|_| ())
}
