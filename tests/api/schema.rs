//! The PostgreSQL and SQLite migrations create the same schema: tables, columns, types,
//! nullability and unique indexes.

use crate::support::app::PgDatabase;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use std::collections::BTreeSet;

#[derive(diesel::QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(diesel::QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
}

#[derive(diesel::QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Nullable<Text>)]
    predicate: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = BigInt)]
    is_unique: i64,
    #[diesel(sql_type = BigInt)]
    partial: i64,
}

type Columns = BTreeSet<(String, String, String, bool)>;
type Indexes = BTreeSet<(String, String, bool, bool)>;

fn pg_schema(url: &str) -> (Columns, Indexes) {
    let mut conn = PgConnection::establish(url).unwrap();
    let columns = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type, \
         is_nullable::text AS is_nullable FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load::<PgColumn>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|c| {
        let ty = match c.data_type.as_str() {
            "timestamp without time zone" => "TIMESTAMP".to_string(),
            other => other.to_uppercase(),
        };
        (c.table_name, c.column_name, ty, c.is_nullable == "YES")
    })
    .collect();
    let indexes = diesel::sql_query(
        "SELECT t.relname::text AS table_name, ix.indisunique AS is_unique, \
         pg_get_expr(ix.indpred, ix.indrelid) AS predicate, \
         array_to_string(array_agg(a.attname::text ORDER BY array_position(ix.indkey::int2[], a.attnum)), ',') AS columns \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) \
         WHERE n.nspname = 'public' AND t.relname <> '__diesel_schema_migrations' AND NOT ix.indisprimary \
         GROUP BY t.relname, i.relname, ix.indisunique, ix.indpred, ix.indrelid",
    )
    .load::<PgIndex>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|i| (i.table_name, i.columns, i.is_unique, i.predicate.is_some()))
    .collect();
    (columns, indexes)
}

fn sqlite_schema(path: &str) -> (Columns, Indexes) {
    let mut conn = SqliteConnection::establish(path).unwrap();
    let columns = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, p.\"notnull\" AS not_null \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
    )
    .load::<SqliteColumn>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|c| (c.table_name, c.column_name, c.data_type.to_uppercase(), c.not_null == 0))
    .collect();
    let indexes = diesel::sql_query(
        "SELECT m.name AS table_name, il.\"unique\" AS is_unique, il.partial AS partial, \
         (SELECT group_concat(ii.name, ',') FROM pragma_index_info(il.name) ii) AS columns \
         FROM sqlite_master m JOIN pragma_index_list(m.name) il \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' \
         AND il.origin <> 'pk'",
    )
    .load::<SqliteIndex>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|i| (i.table_name, i.columns, i.is_unique != 0, i.partial != 0))
    .collect();
    (columns, indexes)
}

#[actix_web::test]
async fn postgres_and_sqlite_schemas_are_equal() {
    let (pg, sqlite) = tokio::task::spawn_blocking(|| {
        let pg_db = PgDatabase::create();
        pos_backend::db::Db::connect(&pg_db.url, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.db").to_string_lossy().into_owned();
        pos_backend::db::Db::connect(&path, 1).unwrap();
        (pg_schema(&pg_db.url), sqlite_schema(&path))
    })
    .await
    .unwrap();
    assert!(pg.0.len() > 30, "the schema has its tables: {:?}", pg.0);
    assert_eq!(pg.0, sqlite.0, "columns differ");
    assert_eq!(pg.1, sqlite.1, "indexes differ");
    for unique in [
        "external_account_id",
        "stripe_customer_id",
        "stripe_payment_intent_id",
        "stripe_payment_method_id",
    ] {
        assert!(
            pg.1.iter().any(|(_, cols, u, _)| *u && cols == unique),
            "{unique} is unique"
        );
    }
    assert!(pg.1.contains(&(
        "payments".into(),
        "account_id,external_transaction_id".into(),
        true,
        false
    )));
    assert!(pg.1.contains(&(
        "customers".into(),
        "account_id,external_customer_id".into(),
        true,
        false
    )));
}
