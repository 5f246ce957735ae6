//! Query plans of the hot paths: every distinct SQL statement the service runs during a POS sale
//! and the calls around it is captured (diesel's instrumentation) and explained on the same
//! database; a statement that only a scan of a whole table can serve fails the test, as does a
//! lookup by a unique key that the planner serves from a non-unique index, and (PostgreSQL) an
//! index scan whose condition does not bound the index's leading column (the whole index walked).
//!
//! PostgreSQL: each statement is prepared and explained as a generic plan (`plan_cache_mode =
//! force_generic_plan`, every parameter NULL) with `enable_seqscan = off`, so a `Seq Scan` left in
//! the plan means no index can serve it. SQLite: `EXPLAIN QUERY PLAN`, where `SCAN <table>`
//! without `USING … INDEX` is a scan of the whole table. Only the tables in [`ALLOWED_SCANS`] may
//! be scanned. See docs/decisions.md, "Query plans".
//!
//! `SHOW_PLANS=1 cargo test --test query_plans -- --nocapture` prints every statement and its plan.
//!
//! A test crate of its own: the capture is process-wide, and each test keeps only the statements
//! run on connections to its own database (the URL each connection was opened with).

#[path = "../support/mod.rs"]
mod support;

use diesel::connection::SimpleConnection;
use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Mutex, Once};
use support::app::{Backend, MerchantEndpoint, TestApp};

const VISA: &str = "4242424242424242";

/// Tables a hot statement may scan whole, each with the reason that is harmless.
const ALLOWED_SCANS: &[(&str, &str)] = &[(
    "instances",
    "one row per live process of the deployment (a handful), pruned by heartbeat",
)];

/// Lookups by a unique key, each with the unique index that must serve it (PostgreSQL; the
/// planner once served the first from `payments_account_id`, walking the account's payments).
const UNIQUE_LOOKUPS: &[(&str, &str, &str)] = &[
    (
        "payments by account and external_transaction_id",
        r#""payments"."external_transaction_id" = $"#,
        "payments_account_id_external_transaction_id_key",
    ),
    (
        "payments by PaymentIntent id",
        r#""payments"."stripe_payment_intent_id" = $"#,
        "payments_stripe_payment_intent_id_key",
    ),
    (
        "customers by account and external_customer_id",
        r#""customers"."external_customer_id" = $"#,
        "customers_account_id_external_customer_id_key",
    ),
];

/// Every statement run so far: the URL of its connection, and its SQL.
static CAPTURED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn capture() -> Option<Box<dyn Instrumentation>> {
    let mut url = String::new();
    Some(Box::new(
        move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartEstablishConnection { url: opened, .. } => {
                url = opened.to_string()
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                let text = query.to_string();
                let sql = match text.rsplit_once(" -- binds: ") {
                    Some((sql, _)) => sql.to_string(),
                    None => text,
                };
                CAPTURED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((url.clone(), sql));
            }
            _ => {}
        },
    ))
}

fn install_capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| set_default_instrumentation(capture).expect("instrumentation installed"));
}

/// The distinct data statements run on connections to `url` (not DDL, pragmas, transaction
/// control or diesel's migration bookkeeping).
fn statements_on(url: &str) -> BTreeSet<String> {
    CAPTURED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(on, _)| on == url)
        .map(|(_, sql)| sql.trim().to_string())
        .filter(|sql| {
            let keyword = sql
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(&keyword.as_str())
                && !sql.contains("__diesel_schema_migrations")
        })
        .collect()
}

/// Runs the hot paths once: a POS sale saving the card, reads, lists with every filter and a
/// cursor, a refund, a void, a saved-card charge, the cards list, Stripe's webhooks to us and the
/// merchant-webhook deliveries they cause.
async fn hot_paths(app: &TestApp) {
    let hook = MerchantEndpoint::start(0);
    let token = app.merchant("acme", "usd").await;
    let (status, account) = app
        .put_account("acme", json!({"webhook_url": hook.url}))
        .await;
    assert_eq!(status, 200, "{account}");
    let reader = app.register_reader().await;
    let authorised = |tx: &'static str, customer: Option<&'static str>| {
        let token = token.clone();
        let reader = reader.clone();
        async move {
            let mut body = json!({"external_account_id": "acme", "amount": "12.99",
                "payment_method_types": "card_present", "capture_method": "manual",
                "external_transaction_id": tx});
            if let Some(customer) = customer {
                body["external_customer_id"] = json!(customer);
            }
            let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
            assert_eq!(status, 200, "{intent}");
            let id = intent["id"].as_str().unwrap().to_string();
            let (status, tapped) = app.tap_card(&reader, &id, VISA).await;
            assert_eq!(status, 200, "{tapped}");
            id
        }
    };
    let capture = |id: String| {
        let token = token.clone();
        async move {
            let (status, captured) = app
                .post(
                    "/v1/payment/capture",
                    &token,
                    json!({"payment_id": id, "external_account_id": "acme"}),
                )
                .await;
            assert_eq!(status, 200, "{captured}");
        }
    };

    let save_card = |id: String, customer: &'static str| {
        let token = token.clone();
        async move {
            let (status, card) = app
                .post(
                    "/v1/customer/card",
                    &token,
                    json!({"payment_id": id, "external_customer_id": customer, "external_account_id": "acme"}),
                )
                .await;
            assert_eq!(status, 200, "{card}");
            card
        }
    };

    // The sale: intent for a customer → reader → capture → save the card.
    let sale = authorised("sale-1", Some("erin")).await;
    capture(sale.clone()).await;
    let card = save_card(sale.clone(), "erin").await;
    app.settle().await;

    let (status, payment) = app
        .get(
            &format!("/v1/payment/{sale}?external_account_id=acme"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{payment}");

    // Refund part of a second sale; void a third.
    let refunded = authorised("sale-2", None).await;
    capture(refunded.clone()).await;
    let (status, refund) = app
        .post(
            "/v1/payment/refund",
            &token,
            json!({"payment_id": refunded, "external_account_id": "acme", "amount": "5.00"}),
        )
        .await;
    assert_eq!(status, 200, "{refund}");
    let voided = authorised("sale-3", None).await;
    let (status, void) = app
        .post(
            "/v1/payment/cancel",
            &token,
            json!({"payment_id": voided, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{void}");

    // A sale with line items: its payment, its receipt, a receipt e-mail given later.
    let (status, itemised) = app
        .post(
            "/v1/payment/intent",
            &token,
            json!({"external_account_id": "acme", "amount": "10.80", "external_transaction_id": "sale-4",
                "line_items": [{"description": "Latte", "amount": "4.50", "quantity": 2}], "tax": "1.80"}),
        )
        .await;
    assert_eq!(status, 200, "{itemised}");
    let itemised = itemised["id"].as_str().unwrap().to_string();
    let (status, tapped) = app.tap_card(&reader, &itemised, VISA).await;
    assert_eq!(status, 200, "{tapped}");
    for path in [
        format!("/v1/payment/{itemised}?external_account_id=acme"),
        format!("/v1/payment/{itemised}/receipt?external_account_id=acme"),
    ] {
        let (status, body) = app.get(&path, &token).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, updated) = app
        .post(
            &format!("/v1/payment/{itemised}"),
            &token,
            json!({"external_account_id": "acme", "receipt_email": "guest@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");

    // A charge of the saved card, and the customer's cards.
    let (status, charged) = app
        .post(
            "/v1/payment/charge",
            &token,
            json!({"external_account_id": "acme", "external_customer_id": "erin",
                "card_id": card["id"], "amount": "25.50", "external_transaction_id": "later-1"}),
        )
        .await;
    assert_eq!(status, 200, "{charged}");
    let (status, cards) = app
        .get(
            "/v1/customer/cards?external_account_id=acme&external_customer_id=erin",
            &token,
        )
        .await;
    assert_eq!(status, 200, "{cards}");
    app.settle().await;

    // The list, unfiltered, with each filter, and from a cursor.
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for query in [
        String::new(),
        "&status=succeeded".into(),
        "&external_customer_id=erin".into(),
        format!("&since={since}"),
        format!("&until={until}"),
        format!("&since={since}&until={until}"),
        "&min_amount=10".into(),
        "&max_amount=20".into(),
        "&currency=usd".into(),
        format!("&starting_after={sale}"),
    ] {
        let (status, page) = app
            .get(
                &format!("/v1/payments?external_account_id=acme&limit=10{query}"),
                &token,
            )
            .await;
        assert_eq!(status, 200, "{query}: {page}");
    }
    // The back office (issue 20): a payment handed to a reader through our API (its reader
    // recorded), the totals by every grouping (a day window: the day tree's comparisons too), and
    // the CSV export with the list's filters.
    let (status, location) = app
        .post(
            "/v1/terminal/locations",
            &token,
            json!({"external_account_id": "acme", "display_name": "Shop",
                "address": {"line1": "1 Main St", "city": "Springfield", "country": "us"}}),
        )
        .await;
    assert_eq!(status, 200, "{location}");
    let (status, till) = app
        .post(
            "/v1/terminal/readers",
            &token,
            json!({"external_account_id": "acme", "registration_code": "simulated-wpe",
                "location": location["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{till}");
    let (status, intent) = app
        .post(
            "/v1/payment/intent",
            &token,
            json!({"external_account_id": "acme", "amount": "3.00",
                "external_transaction_id": "till-1", "external_cashier_id": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{intent}");
    let (status, processing) = app
        .post(
            &format!(
                "/v1/terminal/readers/{}/process",
                till["id"].as_str().unwrap()
            ),
            &token,
            json!({"external_account_id": "acme", "payment_id": intent["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{processing}");
    // The till's wait for the reader (the long poll reads the reader's row until it changes).
    let (status, events) = app
        .get(
            &format!(
                "/v1/terminal/readers/{}/events?external_account_id=acme&after=0&timeout=0",
                till["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let today = chrono::Utc::now().date_naive();
    let window = format!(
        "since={}&until={}",
        today - chrono::Days::new(3),
        today + chrono::Days::new(3)
    );
    for group_by in ["day", "location", "reader", "cashier", "currency"] {
        let (status, totals) = app
            .get(
                &format!(
                    "/v1/reports/totals?external_account_id=acme&{window}&group_by={group_by}"
                ),
                &token,
            )
            .await;
        assert_eq!(status, 200, "{group_by}: {totals}");
    }
    for query in [
        "",
        "&status=succeeded",
        "&currency=usd",
        "&external_customer_id=erin",
    ] {
        let answer = app
            .exchange(
                app.client
                    .get(app.url(&format!(
                        "/v1/payments/export?external_account_id=acme{query}"
                    )))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.text);
    }
    // The back office's payouts: the list (and its items, summed per payout) by status.
    for query in ["", "&status=paid", "&limit=5"] {
        let (status, page) = app
            .get(
                &format!("/v1/payouts?external_account_id=acme{query}"),
                &token,
            )
            .await;
        assert_eq!(status, 200, "{query}: {page}");
    }
    assert!(hook.count() > 0, "merchant webhooks were delivered");

    // A merchant without a webhook endpoint: its state changes and card saves have no event to
    // queue (PostgreSQL's one-statement change; the one-statement card insert).
    let (status, account) = app.put_account("acme", json!({"webhook_url": null})).await;
    assert_eq!(status, 200, "{account}");
    let quiet = authorised("sale-5", Some("frank")).await;
    capture(quiet.clone()).await;
    save_card(quiet, "frank").await;
}

/// Captures the hot paths' statements on a fresh app on `backend`.
async fn captured(backend: Backend) -> (TestApp, BTreeSet<String>) {
    install_capture();
    let app = TestApp::spawn(backend).await;
    hot_paths(&app).await;
    let statements = statements_on(&app.database_url);
    assert!(
        statements.len() > 20,
        "the capture saw the service's statements: {statements:#?}"
    );
    (app, statements)
}

fn allowed(table: &str) -> bool {
    ALLOWED_SCANS.iter().any(|(allowed, _)| *allowed == table)
}

#[derive(diesel::QueryableByName)]
struct PgPlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(diesel::QueryableByName)]
struct IndexLead {
    #[diesel(sql_type = diesel::sql_types::Text)]
    index: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    lead: String,
}

/// Each PostgreSQL index of the database's tables and its leading column (expression indexes
/// left out).
fn pg_index_leads(conn: &mut PgConnection) -> Vec<(String, String)> {
    diesel::sql_query(
        "SELECT c.relname::text AS index, a.attname::text AS lead
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]",
    )
    .load::<IndexLead>(conn)
    .expect("the indexes' leading columns")
    .into_iter()
    .map(|l| (l.index, l.lead))
    .collect()
}

/// The index scans of a PostgreSQL `plan` whose `Index Cond` does not bound the index's leading
/// column: a B-tree walked whole, entry by entry, for a condition on a later column.
fn leading_column_missed(plan: &str, leads: &[(String, String)]) -> Vec<String> {
    let mut missed = Vec::new();
    let lines: Vec<&str> = plan.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(index) = line
            .split(" using ")
            .nth(1)
            .filter(|_| line.contains("Index Scan") || line.contains("Index Only Scan"))
            .and_then(|rest| rest.split_whitespace().next())
        else {
            continue;
        };
        let Some((_, lead)) = leads.iter().find(|(name, _)| name == index) else {
            continue;
        };
        let cond = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("->"))
            .find_map(|l| l.strip_prefix("Index Cond:"));
        if let Some(cond) = cond {
            if !cond.contains(&format!("({lead} ")) {
                missed.push(format!("{index} (leading column {lead}): {}", cond.trim()));
            }
        }
    }
    missed
}

#[derive(diesel::QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// The number of `$n` parameters of a PostgreSQL statement.
fn parameters(sql: &str) -> usize {
    let mut max = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            max = max.max(n);
        }
    }
    max
}

/// The generic plan PostgreSQL would run `sql` with, with sequential scans disabled.
fn pg_plan(conn: &mut PgConnection, sql: &str) -> Result<String, String> {
    conn.batch_execute(
        "DEALLOCATE ALL; SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan;",
    )
    .map_err(|e| e.to_string())?;
    diesel::sql_query(format!("PREPARE q AS {sql}"))
        .execute(conn)
        .map_err(|e| format!("PREPARE: {e}"))?;
    let n = parameters(sql);
    let execute = if n == 0 {
        "EXPLAIN EXECUTE q".to_string()
    } else {
        format!("EXPLAIN EXECUTE q({})", vec!["NULL"; n].join(", "))
    };
    let lines = diesel::sql_query(execute)
        .load::<PgPlanLine>(conn)
        .map_err(|e| format!("EXPLAIN: {e}"))?;
    Ok(lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

fn sqlite_plan(conn: &mut SqliteConnection, sql: &str) -> Result<String, String> {
    let lines = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<SqlitePlanLine>(conn)
        .map_err(|e| e.to_string())?;
    Ok(lines
        .into_iter()
        .map(|l| l.detail)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The tables `plan` walks whole: PostgreSQL's `Seq Scan on t`, or an index scan of `t` with no
/// `Index Cond` (every entry of the index, in its order); SQLite's `SCAN t` without an index.
fn whole_table_scans(plan: &str) -> Vec<String> {
    // PostgreSQL: one block per plan node (a node line and its property lines).
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in plan.lines() {
        let trimmed = line.trim();
        if blocks.is_empty() || trimmed.starts_with("->") {
            blocks.push(Vec::new());
        }
        blocks
            .last_mut()
            .unwrap()
            .push(trimmed.trim_start_matches("->").trim());
    }
    blocks
        .iter()
        .filter_map(|block| {
            let node = block[0];
            if let Some(rest) = node.split("Seq Scan on ").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
            if node.contains("Index Scan") || node.contains("Index Only Scan") {
                let table = node.split(" on ").nth(1)?.split_whitespace().next()?;
                let bounded = block.iter().any(|line| line.starts_with("Index Cond:"));
                return (!bounded).then(|| table.to_string());
            }
            let rest = node.strip_prefix("SCAN ")?;
            let table = rest.split_whitespace().next()?;
            (!rest.contains(" USING ") && table != "CONSTANT").then(|| table.to_string())
        })
        .map(|table| table.trim_matches('"').to_string())
        .collect()
}

/// Every statement's plan, and what is wrong with it.
fn check(
    statements: &BTreeSet<String>,
    leads: &[(String, String)],
    mut plan: impl FnMut(&str) -> Result<String, String>,
) {
    let mut problems = Vec::new();
    for sql in statements {
        let plan = match plan(sql) {
            Ok(plan) => plan,
            Err(e) => {
                problems.push(format!("{sql}\n  could not be explained: {e}"));
                continue;
            }
        };
        if std::env::var_os("SHOW_PLANS").is_some() {
            eprintln!("=== {sql}\n{plan}\n");
        }
        for table in whole_table_scans(&plan) {
            if !allowed(&table) {
                problems.push(format!("{sql}\n  scans all of `{table}`:\n{plan}"));
            }
        }
        for scan in leading_column_missed(&plan, leads) {
            problems.push(format!("{sql}\n  walks an index whole: {scan}:\n{plan}"));
        }
        for (what, predicate, index) in UNIQUE_LOOKUPS {
            if sql.contains(predicate) && !plan.contains(index) {
                problems.push(format!("{sql}\n  {what} not served by {index}:\n{plan}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} hot statements have a bad plan:\n\n{}",
        problems.len(),
        statements.len(),
        problems.join("\n\n")
    );
}

#[actix_web::test]
async fn postgres() {
    let (app, statements) = captured(Backend::Postgres).await;
    let url = format!("{}&application_name=explain", app.database_url);
    let mut conn = PgConnection::establish(&url).expect("a connection to the app's database");
    assert!(
        statements.iter().any(|s| s.contains(UNIQUE_LOOKUPS[0].1)),
        "the sale looked its payment up by external_transaction_id: {statements:#?}"
    );
    let leads = pg_index_leads(&mut conn);
    assert!(
        leads
            .iter()
            .any(|(index, lead)| index == "payments_listed" && lead == "account_id"),
        "the indexes' leading columns were read: {leads:?}"
    );
    check(&statements, &leads, |sql| pg_plan(&mut conn, sql));
}

#[actix_web::test]
async fn sqlite() {
    let (app, statements) = captured(Backend::Sqlite).await;
    let mut conn =
        SqliteConnection::establish(&app.database_url).expect("a connection to the app's database");
    check(&statements, &[], |sql| sqlite_plan(&mut conn, sql));
}

/// An index scan bounded only by a later column of the index is told from one bounded by its
/// leading column (the plan of the first shape of `payments::find_for_intent`).
#[test]
fn an_index_walked_by_its_second_column_is_told() {
    let leads = vec![(
        "payments_account_id_external_transaction_id_key".to_string(),
        "account_id".to_string(),
    )];
    let walked = "Nested Loop Left Join
  Join Filter: (payments.account_id = accounts.id)
  ->  Index Scan using payments_account_id_external_transaction_id_key on payments  (cost=0.14..12.98 rows=1 width=684)
        Index Cond: (external_transaction_id = $1)";
    let probed = "Nested Loop Left Join
  ->  Index Scan using payments_account_id_external_transaction_id_key on payments  (cost=0.14..8.16 rows=1 width=684)
        Index Cond: ((account_id = $0) AND (external_transaction_id = $3))";
    assert_eq!(leading_column_missed(walked, &leads).len(), 1);
    assert!(leading_column_missed(probed, &leads).is_empty());
}

/// The scan detector on both dialects' plans.
#[test]
fn whole_table_scans_are_told_from_index_scans() {
    let pg = "Limit  (cost=0.15..8.17 rows=1 width=1)\n  ->  Seq Scan on cards  (cost=10000000000.00..10000000001.00 rows=1 width=1)\n        Filter: ((customer_id = $1))";
    assert_eq!(whole_table_scans(pg), ["cards"]);
    assert!(whole_table_scans("Index Scan using payments_pkey on payments  (cost=0.15..8.17 rows=1)\n  Index Cond: (id = $1)").is_empty());
    let walk = "Limit\n  ->  Index Scan Backward using cards_pkey on cards  (cost=0.15..8.17 rows=1)\n        Filter: (customer_id = $1)";
    assert_eq!(whole_table_scans(walk), ["cards"]);
    assert_eq!(whole_table_scans("SCAN cards"), ["cards"]);
    assert!(whole_table_scans("SCAN payments USING INDEX payments_account_id").is_empty());
    assert!(whole_table_scans("SCAN cards USING COVERING INDEX cards_x").is_empty());
    assert!(
        whole_table_scans("SEARCH cards USING INDEX cards_saved_from (customer_id=?)").is_empty()
    );
    assert!(whole_table_scans("SCAN CONSTANT ROW").is_empty());
    assert_eq!(parameters("SELECT 1 WHERE a = $1 AND b = $12 LIMIT $3"), 12);
}
