//! Dead database connections. Pools do not test a connection on checkout; a PostgreSQL connection
//! the server closed while it sat in the pool (a restart, `pg_terminate_backend`, a proxy's idle
//! timeout) is found by the next hop's first statement, discarded, and the hop run again on
//! another connection, when nothing of it can have reached the database. PostgreSQL only: a
//! SQLite connection is a file handle in the process and cannot be closed from outside.

use crate::support::app::{Backend, PgDatabase, TestApp};
use crate::support::wait::within_blocking;
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use pos_backend::db::{Db, DbError};
use serde_json::json;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Closes every other connection to `url`'s database, as a server restart would, and waits until
/// the server has let them all go; returns how many it closed.
fn close_connections(url: &str) -> i64 {
    let mut admin = PgConnection::establish(url).unwrap();
    let others =
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let closed: Count = diesel::sql_query(format!(
        "SELECT count(pg_terminate_backend(pid)) AS n {others}"
    ))
    .get_result(&mut admin)
    .unwrap();
    within_blocking(10, || {
        let left: Count = diesel::sql_query(format!("SELECT count(*) AS n {others}"))
            .get_result(&mut admin)
            .unwrap();
        (left.n == 0).then_some(())
    })
    .expect("the server closes the terminated connections");
    closed.n
}

#[actix_web::test]
async fn requests_succeed_after_the_server_closed_every_pooled_connection() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let token = app.merchant("acme", "usd").await;
    // Requests in flight at once, so the pool holds several connections.
    let intents = futures_util::future::join_all((0..4).map(|i| {
        app.post(
            "/v1/payment/intent",
            &token,
            json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": format!("before-{i}")}),
        )
    }))
    .await;
    assert!(
        intents.iter().all(|(status, _)| *status == 200),
        "{intents:?}"
    );

    let url = app.database_url.clone();
    let closed = tokio::task::spawn_blocking(move || close_connections(&url))
        .await
        .unwrap();
    assert!(closed >= 2, "the pool's connections were open: {closed}");

    // Every pooled connection is dead now; each request still succeeds, reads and writes alike.
    for i in 0..6 {
        let (status, body) = app
            .get("/v1/payments?external_account_id=acme&limit=20", &token)
            .await;
        assert_eq!(status, 200, "list {i}: {body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 4 + i);
        let (status, body) = app
            .post(
                "/v1/payment/intent",
                &token,
                json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": format!("after-{i}")}),
            )
            .await;
        assert_eq!(status, 200, "intent {i}: {body}");
    }
}

#[actix_web::test]
async fn a_write_that_found_the_connection_dead_is_not_run_again() {
    let database = tokio::task::spawn_blocking(PgDatabase::create)
        .await
        .unwrap();
    let url = database.url.clone();
    let db = tokio::task::spawn_blocking(move || Db::connect(&url, 1))
        .await
        .unwrap()
        .unwrap();
    db.run(|c| {
        c.batch_execute("CREATE TABLE marks (n bigint)")
            .map_err(DbError::from)
    })
    .await
    .unwrap();
    let count = |db: Db| async move {
        db.run(|c| {
            diesel::sql_query("SELECT count(*) AS n FROM marks")
                .get_result::<Count>(c)
                .map(|c| c.n)
                .map_err(DbError::from)
        })
        .await
    };

    // An autocommit write is the hop's first statement: had the connection died only after the
    // server ran it, it would be committed, so a failure is never retried (here nothing ran: the
    // connection was dead before).
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || close_connections(&url))
        .await
        .unwrap();
    let write = db
        .run(|c| {
            diesel::sql_query("INSERT INTO marks VALUES (1)")
                .execute(c)
                .map_err(DbError::from)
        })
        .await;
    assert!(
        matches!(write, Err(DbError::Query(_))),
        "the write fails, not retried: {write:?}"
    );
    // The dead connection was discarded: the pool's one slot opens a new one.
    assert_eq!(count(db.clone()).await.unwrap(), 0);

    // A hop whose first statement is a read is run again on a new connection.
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || close_connections(&url))
        .await
        .unwrap();
    assert_eq!(count(db.clone()).await.unwrap(), 0);

    // A transaction whose BEGIN found the connection dead is run again, and commits once.
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || close_connections(&url))
        .await
        .unwrap();
    db.run(|c| {
        pos_backend::db::write_transaction(c, |c| {
            diesel::sql_query("INSERT INTO marks VALUES (2)")
                .execute(c)
                .map_err(DbError::from)
        })
    })
    .await
    .unwrap();
    assert_eq!(count(db.clone()).await.unwrap(), 1);
    drop(db);
    drop(database);
}
