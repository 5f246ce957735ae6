//! End-of-day totals and exports (issue 20): `GET /v1/reports/totals` against sums computed here
//! from what the test did, over 1,000+ payments spread across a US and an EU DST change (the
//! app's clock moved forward between batches, so the payments are stamped in March 2027), read
//! in five time zones and grouped every way; consistent with `GET /v1/payments` for the same
//! window; and `GET /v1/payments/export` as RFC 4180 CSV equal to the JSON list, filtered,
//! quoted and safe against formula injection.

use crate::both_backends;
use crate::support::app::TestApp;
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const VISA: &str = "4242424242424242";

/// Where a payment is tapped.
#[derive(Clone)]
struct Reader {
    /// Registered through our API (tapped after `POST /v1/terminal/readers/{id}/process`), with
    /// its location; or `None`: a reader known only to the simulator (not attributed).
    ours: Option<(String, Option<String>)>,
    id: String,
}

/// What a payment should count for, as the test made it.
#[derive(Debug, Clone)]
struct Made {
    id: String,
    created_at: DateTime<Utc>,
    currency: &'static str,
    captured: i64,
    refunded: i64,
    canceled: bool,
    reader: Option<String>,
    location: Option<String>,
    cashier: Option<String>,
}

#[derive(Clone, Copy)]
enum Outcome {
    /// Created, never tapped.
    Open,
    /// Tapped, not captured.
    Authorised,
    /// Tapped and captured, then `refund` cents refunded.
    Captured { refund: i64 },
    /// Canceled (after a tap when it has a reader).
    Voided,
}

fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[allow(clippy::too_many_arguments)]
async fn make(
    app: &TestApp,
    token: &str,
    account: &str,
    tx: String,
    cents: i64,
    currency: &'static str,
    cashier: Option<&str>,
    reader: Option<&Reader>,
    outcome: Outcome,
) -> Made {
    let mut body = json!({"external_account_id": account, "amount": decimal(cents),
        "currency": currency, "external_transaction_id": tx});
    if let Some(cashier) = cashier {
        body["external_cashier_id"] = json!(cashier);
    }
    let (status, intent) = app.post("/v1/payment/intent", token, body).await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().unwrap().to_string();
    let mut made = Made {
        id: id.clone(),
        created_at: instant(intent["created_at"].as_str().unwrap()),
        currency,
        captured: 0,
        refunded: 0,
        canceled: false,
        reader: None,
        location: None,
        cashier: cashier.map(str::to_string),
    };
    let tapped = !matches!(outcome, Outcome::Open) && reader.is_some();
    if let (true, Some(reader)) = (tapped, reader) {
        match &reader.ours {
            Some((stripe_id, location)) => {
                let (status, body) = app
                    .post(
                        &format!("/v1/terminal/readers/{}/process", reader.id),
                        token,
                        json!({"external_account_id": account, "payment_id": id}),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                let (status, body) = app
                    .sim_post(
                        &format!(
                            "/v1/test_helpers/terminal/readers/{stripe_id}/present_payment_method"
                        ),
                        &[("card_present[number]", VISA)],
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                made.reader = Some(stripe_id.clone());
                made.location = location.clone();
            }
            None => {
                let (status, body) = app.tap_card(&reader.id, &id, VISA).await;
                assert_eq!(status, 200, "{body}");
            }
        }
    }
    let target = json!({"payment_id": id, "external_account_id": account});
    match outcome {
        Outcome::Open | Outcome::Authorised => {}
        Outcome::Captured { refund } => {
            assert!(tapped, "a capture needs a tap");
            let (status, body) = app.post("/v1/payment/capture", token, target.clone()).await;
            assert_eq!(status, 200, "{body}");
            made.captured = cents;
            if refund > 0 {
                let mut r = target.clone();
                r["amount"] = json!(decimal(refund));
                let (status, body) = app.post("/v1/payment/refund", token, r).await;
                assert_eq!(status, 200, "{body}");
                made.refunded = refund;
            }
        }
        Outcome::Voided => {
            let (status, body) = app.post("/v1/payment/cancel", token, target).await;
            assert_eq!(status, 200, "{body}");
            made.canceled = true;
        }
    }
    made
}

/// Moves the app's clock forward to `at` (never back).
fn advance_to(app: &TestApp, at: DateTime<Utc>) {
    let now = app.clock.now().and_utc();
    if at > now {
        app.advance((at - now).to_std().unwrap());
    }
}

/// The readers of `account`: two at locations, one without, and one only the simulator knows.
async fn readers(app: &TestApp, token: &str, account: &str) -> Vec<Reader> {
    let mut out = Vec::new();
    for (i, located) in [true, true, false].into_iter().enumerate() {
        let mut body = json!({"external_account_id": account,
            "registration_code": "simulated-wpe", "label": format!("Till {i}")});
        if located {
            let (status, location) = app
                .post(
                    "/v1/terminal/locations",
                    token,
                    json!({"external_account_id": account, "display_name": format!("Shop {i}"),
                        "address": {"line1": "1 Main St", "city": "Springfield", "country": "us"}}),
                )
                .await;
            assert_eq!(status, 200, "{location}");
            body["location"] = location["id"].clone();
        }
        let (status, reader) = app.post("/v1/terminal/readers", token, body).await;
        assert_eq!(status, 200, "{reader}");
        let id = reader["id"].as_str().unwrap().to_string();
        let location = reader["location"].as_str().map(str::to_string);
        out.push(Reader {
            ours: Some((id.clone(), location)),
            id,
        });
    }
    out.push(Reader {
        ours: None,
        id: app.register_reader().await,
    });
    out
}

/// A little deterministic noise.
fn noise(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// The payments of one batch, all stamped at (about) the clock's time: a chain of sales on each
/// reader (one payment at a time per reader) and untapped payments, all concurrently.
async fn batch(
    app: &TestApp,
    token: &str,
    readers: &[Reader],
    batch_no: u64,
    per_reader: u64,
) -> Vec<Made> {
    let chains = readers.iter().enumerate().map(|(r, reader)| async move {
        let mut made = Vec::new();
        for k in 0..per_reader {
            let seed = noise(batch_no * 1000 + r as u64 * 100 + k);
            let cents = 100 + (seed % 9900) as i64;
            let outcome = match seed % 10 {
                0 => Outcome::Voided,
                1 => Outcome::Authorised,
                2 | 3 => Outcome::Captured {
                    refund: 1 + (seed as i64 >> 8).rem_euclid(cents),
                },
                _ => Outcome::Captured { refund: 0 },
            };
            let currency = if seed.is_multiple_of(7) { "eur" } else { "usd" };
            let cashier = ["alice", "bob", "carol"].get((seed % 4) as usize).copied();
            made.push(
                make(
                    app,
                    token,
                    "acme",
                    format!("b{batch_no}-r{r}-{k}"),
                    cents,
                    currency,
                    cashier,
                    Some(reader),
                    outcome,
                )
                .await,
            );
        }
        made
    });
    let loose = (0..per_reader).map(|k| async move {
        let seed = noise(batch_no * 1000 + 900 + k);
        let outcome = if seed.is_multiple_of(3) {
            Outcome::Voided
        } else {
            Outcome::Open
        };
        vec![
            make(
                app,
                token,
                "acme",
                format!("b{batch_no}-open-{k}"),
                100 + (seed % 5000) as i64,
                "usd",
                None,
                None,
                outcome,
            )
            .await,
        ]
    });
    let mut all: Vec<Vec<Made>> = futures_util::future::join_all(chains).await;
    all.extend(futures_util::future::join_all(loose).await);
    all.into_iter().flatten().collect()
}

/// What a grouping takes from a payment.
type Key = Box<dyn Fn(&Made) -> Option<String>>;

/// Totals as the test computes them: (group, currency) → measures.
type Sums = BTreeMap<(Option<String>, String), BTreeMap<&'static str, i64>>;

fn expected(made: &[Made], key: impl Fn(&Made) -> Option<String>) -> Sums {
    let mut sums = Sums::new();
    for m in made {
        let entry = sums
            .entry((key(m), m.currency.to_string()))
            .or_insert_with(|| {
                [
                    "payments_count",
                    "sales_count",
                    "sales_amount",
                    "refunds_count",
                    "refunds_amount",
                    "voids_count",
                    "net_amount",
                ]
                .into_iter()
                .map(|k| (k, 0))
                .collect()
            });
        let mut add = |k: &'static str, v: i64| *entry.get_mut(k).unwrap() += v;
        add("payments_count", 1);
        add("sales_count", (m.captured > 0) as i64);
        add("sales_amount", m.captured);
        add("refunds_count", (m.refunded > 0) as i64);
        add("refunds_amount", m.refunded);
        add("voids_count", m.canceled as i64);
        add("net_amount", m.captured - m.refunded);
    }
    sums
}

/// The answer's groups in the same shape (amounts back to cents).
fn answered(totals: &Value) -> Sums {
    let mut sums = Sums::new();
    for g in totals["groups"].as_array().unwrap() {
        let key = (
            g["group"].as_str().map(str::to_string),
            g["currency"].as_str().unwrap().to_string(),
        );
        let mut measures = BTreeMap::new();
        for k in [
            "payments_count",
            "sales_count",
            "refunds_count",
            "voids_count",
        ] {
            measures.insert(k, g[k].as_i64().unwrap_or_else(|| panic!("{k}: {g}")));
        }
        for k in ["sales_amount", "refunds_amount", "net_amount"] {
            let text = g[k].as_str().unwrap_or_else(|| panic!("{k}: {g}"));
            let (units, cents) = text.split_once('.').expect("two decimals");
            assert_eq!(cents.len(), 2, "{text}");
            measures.insert(
                k,
                units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap(),
            );
        }
        assert!(
            sums.insert(key, measures).is_none(),
            "one row per group: {g}"
        );
    }
    sums
}

async fn totals(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/reports/totals?{query}"), token).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn set_zone(app: &TestApp, account: &str, zone: &str) {
    let (status, body) = app.put_account(account, json!({"time_zone": zone})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["time_zone"], zone);
}

/// Every payment of `GET /v1/payments?{query}`, page after page.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .get(&format!("/v1/payments?{query}&limit=100{cursor}"), token)
            .await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_starting_after"].as_str() {
            Some(next) => cursor = format!("&starting_after={next}"),
            None => return all,
        }
    }
}

/// `GET /v1/payments/export?{query}`: the status, and the body's rows (RFC 4180 parsed here).
async fn export(app: &TestApp, token: &str, query: &str) -> (u16, String, Vec<Vec<String>>) {
    let answer = app
        .exchange(
            app.client
                .get(app.url(&format!("/v1/payments/export?{query}")))
                .bearer_auth(token),
        )
        .await;
    let rows = if answer.status == 200 {
        assert_eq!(answer.header("content-type"), "text/csv; charset=utf-8");
        parse_csv(&answer.text)
    } else {
        Vec::new()
    };
    (answer.status, answer.text, rows)
}

/// A strict RFC 4180 reader: CRLF line ends, quoted cells with doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                assert!(cell.is_empty(), "a quote inside an unquoted cell: {cell}");
                quoted = true;
            }
            ',' => row.push(std::mem::take(&mut cell)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            '\n' => panic!("a bare LF ends a line"),
            _ => cell.push(c),
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "the body ends a line"
    );
    rows
}

const COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "status",
    "currency",
    "amount",
    "amount_capturable",
    "amount_captured",
    "amount_refunded",
    "net_amount",
    "capture_method",
    "payment_method_types",
    "external_transaction_id",
    "external_customer_id",
    "customer_id",
    "external_cashier_id",
    "description",
    "metadata",
];

/// The CSV rows (header checked) as the JSON list shows them.
fn as_json(rows: &[Vec<String>]) -> Vec<BTreeMap<String, String>> {
    assert_eq!(rows[0], COLUMNS, "the header");
    rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), COLUMNS.len(), "{r:?}");
            COLUMNS
                .iter()
                .map(|c| c.to_string())
                .zip(r.iter().cloned())
                .collect()
        })
        .collect()
}

/// A list item in the CSV's terms.
fn csv_of(p: &Value) -> BTreeMap<String, String> {
    let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let cents = |k: &str| {
        let (u, c) = p[k].as_str().unwrap().split_once('.').unwrap();
        u.parse::<i64>().unwrap() * 100 + c.parse::<i64>().unwrap()
    };
    let mut row = BTreeMap::new();
    for k in [
        "id",
        "created_at",
        "updated_at",
        "status",
        "currency",
        "amount",
        "amount_capturable",
        "amount_captured",
        "amount_refunded",
        "capture_method",
        "external_transaction_id",
        "external_customer_id",
        "customer_id",
        "external_cashier_id",
        "description",
    ] {
        row.insert(k.to_string(), text(k));
    }
    row.insert(
        "net_amount".into(),
        decimal(cents("amount_captured") - cents("amount_refunded")),
    );
    let types: Vec<&str> = p["payment_method_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    row.insert("payment_method_types".into(), types.join(" "));
    let metadata = p["metadata"].as_object().unwrap();
    row.insert(
        "metadata".into(),
        if metadata.is_empty() {
            String::new()
        } else {
            p["metadata"].to_string()
        },
    );
    row
}

fn local_day(m: &Made, zone: Tz) -> Option<String> {
    Some(m.created_at.with_timezone(&zone).date_naive().to_string())
}

both_backends! {
    async fn totals_match_hand_computed_sums_across_zones_and_dst_changes(app) {
        let token = app.merchant("acme", "usd").await;
        let readers = readers(&app, &token, "acme").await;
        // Batches every 7 hours from 2027-03-13 to 2027-03-29 (New York leaves EST on 03-14 at
        // 07:00Z, Paris leaves CET on 03-28 at 01:00Z), and next to the midnights that move.
        let start = instant("2027-03-13T00:00:00Z");
        let mut slots: Vec<DateTime<Utc>> = (0..57).map(|i| start + Duration::hours(7 * i)).collect();
        slots.extend(["2027-03-14T04:30:00Z", "2027-03-15T04:30:00Z", "2027-03-28T22:30:00Z", "2027-03-28T23:30:00Z"].map(instant));
        slots.sort();
        let mut made = Vec::new();
        for (n, slot) in slots.iter().enumerate() {
            advance_to(&app, *slot);
            made.extend(batch(&app, &token, &readers, n as u64, 4).await);
        }
        assert!(made.len() >= 1000, "{} payments", made.len());
        assert!(made.iter().any(|m| m.canceled) && made.iter().any(|m| m.refunded > 0));
        // The oracle's own sense of the DST change: 04:30Z is 23:30 (EST) before it, 00:30 (EDT)
        // after.
        let ny: Tz = "America/New_York".parse().unwrap();
        let day = |t: &str| instant(t).with_timezone(&ny).date_naive().to_string();
        assert_eq!((day("2027-03-14T04:30:00Z"), day("2027-03-15T04:30:00Z")), ("2027-03-13".into(), "2027-03-15".into()));

        let window = "external_account_id=acme&since=2027-03-12&until=2027-03-31";
        for zone in ["UTC", "America/New_York", "Europe/Paris", "Asia/Kathmandu", "Australia/Lord_Howe"] {
            set_zone(&app, "acme", zone).await;
            let tz: Tz = zone.parse().unwrap();
            let body = totals(&app, &token, &format!("{window}&group_by=day")).await;
            assert_eq!(body["time_zone"], zone);
            assert_eq!(body["since"], tz.from_local_datetime(&chrono::NaiveDate::from_ymd_opt(2027, 3, 12).unwrap().and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            assert_eq!(answered(&body), expected(&made, |m| local_day(m, tz)), "by day in {zone}");
        }
        // A window of instants inside a day (Paris), cut mid-batch-series.
        let (since, until) = ("2027-03-14T06:00:00Z", "2027-03-28T23:00:00Z");
        let inside: Vec<Made> = made.iter().filter(|m| m.created_at >= instant(since) && m.created_at < instant(until)).cloned().collect();
        let paris: Tz = "Europe/Paris".parse().unwrap();
        set_zone(&app, "acme", "Europe/Paris").await;
        let body = totals(&app, &token, &format!("external_account_id=acme&since={since}&until={until}&group_by=day")).await;
        assert_eq!(answered(&body), expected(&inside, |m| local_day(m, paris)));

        // Every other grouping, over the whole window.
        set_zone(&app, "acme", "America/New_York").await;
        for (group_by, key) in [
            ("location", Box::new(|m: &Made| m.location.clone()) as Key),
            ("reader", Box::new(|m: &Made| m.reader.clone())),
            ("cashier", Box::new(|m: &Made| m.cashier.clone())),
            ("currency", Box::new(|m: &Made| Some(m.currency.to_string()))),
        ] {
            let body = totals(&app, &token, &format!("{window}&group_by={group_by}")).await;
            let sums = expected(&made, key);
            assert!(sums.keys().any(|(g, _)| g.is_none()) || group_by == "currency", "{group_by} has a null group");
            assert_eq!(answered(&body), sums, "by {group_by}");
        }

        // Consistent with the list over the same window (the instants the report resolved).
        let body = totals(&app, &token, &format!("{window}&group_by=currency")).await;
        let (since, until) = (body["since"].as_str().unwrap(), body["until"].as_str().unwrap());
        let list = listed(&app, &token, &format!("external_account_id=acme&since={since}&until={until}")).await;
        assert_eq!(list.len(), made.len());
        let mut from_list = Sums::new();
        for p in &list {
            let cents = |k: &str| {
                let (u, c) = p[k].as_str().unwrap().split_once('.').unwrap();
                u.parse::<i64>().unwrap() * 100 + c.parse::<i64>().unwrap()
            };
            let currency = p["currency"].as_str().unwrap().to_string();
            let e = from_list.entry((Some(currency.clone()), currency)).or_default();
            *e.entry("payments_count").or_default() += 1;
            *e.entry("sales_count").or_default() += (cents("amount_captured") > 0) as i64;
            *e.entry("sales_amount").or_default() += cents("amount_captured");
            *e.entry("refunds_count").or_default() += (cents("amount_refunded") > 0) as i64;
            *e.entry("refunds_amount").or_default() += cents("amount_refunded");
            *e.entry("voids_count").or_default() += (p["status"] == "canceled") as i64;
            *e.entry("net_amount").or_default() += cents("amount_captured") - cents("amount_refunded");
        }
        assert_eq!(answered(&body), from_list, "the totals are the list's sums");

        // The export of the same window (several pages of the export) is the list, row for row.
        let (status, text, rows) = export(&app, &token, &format!("external_account_id=acme&since={since}&until={until}")).await;
        assert_eq!(status, 200, "{text}");
        let csv = as_json(&rows);
        assert_eq!(csv.len(), list.len());
        for (row, item) in csv.iter().zip(&list) {
            assert_eq!(row, &csv_of(item));
        }
    }

    async fn every_grouping_and_the_null_group_on_a_small_day(app) {
        let token = app.merchant("acme", "usd").await;
        set_zone(&app, "acme", "Asia/Kathmandu").await;
        let readers = readers(&app, &token, "acme").await;
        let mut made = Vec::new();
        for (i, (cashier, reader, outcome)) in [
            (Some("alice"), Some(&readers[0]), Outcome::Captured { refund: 250 }),
            (Some("alice"), Some(&readers[1]), Outcome::Captured { refund: 0 }),
            (None, Some(&readers[2]), Outcome::Voided),
            (Some("bob"), Some(&readers[3]), Outcome::Captured { refund: 1000 }),
            (None, None, Outcome::Open),
        ].into_iter().enumerate() {
            made.push(make(&app, &token, "acme", format!("tx-{i}"), 1000 + i as i64, "usd", cashier, reader, outcome).await);
        }
        let today = Utc::now().with_timezone(&"Asia/Kathmandu".parse::<Tz>().unwrap()).date_naive();
        let window = format!("external_account_id=acme&since={today}&until={}", today.succ_opt().unwrap());
        // Across a local midnight the payments may fall on two days: the check is by the oracle.
        let kathmandu: Tz = "Asia/Kathmandu".parse().unwrap();
        let in_window: Vec<Made> = made.iter().filter(|m| m.created_at.with_timezone(&kathmandu).date_naive() == today).cloned().collect();
        let by_cashier = answered(&totals(&app, &token, &format!("{window}&group_by=cashier")).await);
        assert_eq!(by_cashier, expected(&in_window, |m| m.cashier.clone()));
        if in_window.len() == made.len() {
            let alice = &by_cashier[&(Some("alice".to_string()), "usd".to_string())];
            assert_eq!((alice["sales_count"], alice["sales_amount"], alice["refunds_amount"], alice["net_amount"]), (2, 2001, 250, 1751));
            let null = &by_cashier[&(None, "usd".to_string())];
            assert_eq!((null["payments_count"], null["voids_count"], null["sales_count"]), (2, 1, 0));
        }
        for group_by in ["day", "location", "reader", "currency"] {
            let body = totals(&app, &token, &format!("{window}&group_by={group_by}")).await;
            assert_eq!(body["group_by"], group_by);
            let key: Key = match group_by {
                "day" => Box::new(move |m: &Made| local_day(m, kathmandu)),
                "location" => Box::new(|m: &Made| m.location.clone()),
                "reader" => Box::new(|m: &Made| m.reader.clone()),
                _ => Box::new(|m: &Made| Some(m.currency.to_string())),
            };
            assert_eq!(answered(&body), expected(&in_window, key), "{group_by}");
        }
        // The payment shows its cashier.
        let (_, p) = app.get(&format!("/v1/payment/{}?external_account_id=acme", made[0].id), &token).await;
        assert_eq!(p["external_cashier_id"], "alice");
        // Without group_by: by currency.
        let body = totals(&app, &token, &window).await;
        assert_eq!(body["group_by"], "currency");
    }

    async fn bad_zones_windows_and_groupings_are_400s_naming_the_field(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, account) = app.put_account("acme", json!({})).await;
        assert_eq!((status, account["time_zone"].as_str()), (200, Some("UTC")), "{account}");
        for (body, param) in [
            (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
            (json!({"time_zone": "est"}), "time_zone"),
            (json!({"time_zone": null}), "time_zone"),
            (json!({"time_zone": 5}), "time_zone"),
        ] {
            let (status, error) = app.put_account("acme", body.clone()).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{body}: {error}");
        }
        let base = "/v1/reports/totals?external_account_id=acme";
        for (query, param) in [
            ("&until=2027-01-02", "since"),
            ("&since=2027-01-01", "until"),
            ("&since=yesterday&until=2027-01-02", "since"),
            ("&since=2027-01-01&until=2027-13-01", "until"),
            ("&since=2027-01-02&until=2027-01-01", "until"),
            ("&since=2027-01-01&until=2027-01-01", "until"),
            ("&since=2026-01-01&until=2027-01-03", "until"),
            ("&since=2027-01-01T00:00:00Z&until=2027-01-01T00:00:00+01:00", "until"),
            ("&since=2027-01-01&until=2027-01-02&group_by=week", "group_by"),
            ("&since=2027-01-01&until=2027-01-02&group_by=", "group_by"),
            ("&since=2027-01-01&until=2027-01-02&limit=5", "limit"),
        ] {
            let (status, error) = app.get(&format!("{base}{query}"), &token).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{query}: {error}");
        }
        // 366 days is the longest window.
        let (status, body) = app.get(&format!("{base}&since=2027-01-01&until=2028-01-02&group_by=day"), &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["groups"], json!([]));
        for (query, param) in [
            ("&limit=10", "limit"),
            ("&starting_after=pi_1", "starting_after"),
            ("&since=tomorrow", "since"),
            ("&status=lost", "status"),
            ("&min_amount=-1", "min_amount"),
        ] {
            let (status, error) = app.get(&format!("/v1/payments/export?external_account_id=acme{query}"), &token).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{query}: {error}");
        }
    }

    async fn another_accounts_payments_are_never_counted_or_exported(app) {
        let acme = app.merchant("acme", "usd").await;
        let globex = app.merchant("globex", "usd").await;
        let reader = app.register_reader().await;
        let ours = make(&app, &acme, "acme", "same-tx".into(), 1200, "usd", Some("alice"), Some(&Reader { ours: None, id: reader.clone() }), Outcome::Captured { refund: 0 }).await;
        let theirs = make(&app, &globex, "globex", "same-tx".into(), 9900, "usd", Some("alice"), Some(&Reader { ours: None, id: reader }), Outcome::Captured { refund: 0 }).await;
        let window = |account: &str| format!("external_account_id={account}&since={}&until={}",
            (Utc::now() - Duration::days(2)).date_naive(), (Utc::now() + Duration::days(2)).date_naive());
        let body = totals(&app, &acme, &format!("{}&group_by=cashier", window("acme"))).await;
        assert_eq!(answered(&body), expected(std::slice::from_ref(&ours), |m| m.cashier.clone()));
        let body = totals(&app, &globex, &format!("{}&group_by=cashier", window("globex"))).await;
        assert_eq!(answered(&body), expected(std::slice::from_ref(&theirs), |m| m.cashier.clone()));
        // A token for acme cannot read globex's totals or export.
        let (status, error) = app.get(&format!("/v1/reports/totals?{}", window("globex")), &acme).await;
        assert_eq!(status, 403, "{error}");
        let (status, _, _) = export(&app, &acme, "external_account_id=globex").await;
        assert_eq!(status, 403);
        // An unknown account is a 404, before any CSV.
        let admin = app.token(&["*"], "payments:read");
        let (status, error) = app.get(&format!("/v1/reports/totals?{}", window("nobody")), &admin).await;
        assert_eq!(status, 404, "{error}");
        let (status, _, _) = export(&app, &admin, "external_account_id=nobody").await;
        assert_eq!(status, 404);
        let (status, _, rows) = export(&app, &acme, "external_account_id=acme").await;
        assert_eq!(status, 200);
        let csv = as_json(&rows);
        assert_eq!(csv.len(), 1);
        assert_eq!(csv[0]["id"], ours.id);
    }

    async fn the_export_quotes_defuses_formulas_filters_and_equals_the_list(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = Reader { ours: None, id: app.register_reader().await };
        let tricky = [
            ("plain", "Two coffees"),
            ("comma", "Coffee, large"),
            ("quote", "The \"special\""),
            ("lines", "line one\r\nline two\nthree"),
            ("formula", "=HYPERLINK(\"http://evil.example\",\"click\")"),
            ("plus", "+1 555 0100"),
            ("minus", "-2+3"),
            ("at", "@SUM(A1:A2)"),
            ("tab", "\tindent"),
            ("unicode", "Crème brûlée — ☕"),
        ];
        for (i, (tx, description)) in tricky.iter().enumerate() {
            let mut body = json!({"external_account_id": "acme", "amount": decimal(1000 + i as i64),
                "external_transaction_id": tx, "description": description,
                "metadata": {"note": "a,\"b\""}, "external_cashier_id": "=cmd"});
            if i % 2 == 0 {
                body["currency"] = json!("eur");
                body["external_customer_id"] = json!(format!("cust-{i}"));
            }
            let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
            assert_eq!(status, 200, "{intent}");
            if i % 3 == 0 {
                let id = intent["id"].as_str().unwrap();
                let (status, tapped) = app.tap_card(&reader.id, id, VISA).await;
                assert_eq!(status, 200, "{tapped}");
                let (status, body) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme"})).await;
                assert_eq!(status, 200, "{body}");
            }
        }
        let (status, text, rows) = export(&app, &token, "external_account_id=acme").await;
        assert_eq!(status, 200);
        assert!(text.starts_with("id,created_at,updated_at,status,currency,amount,"), "{text}");
        assert!(text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""), "{text}");
        assert!(text.contains(",\"'=cmd\","), "{text}");
        assert!(text.contains("\"Coffee, large\""), "{text}");
        assert!(text.contains("\"line one\r\nline two\nthree\""), "{text}");
        let csv = as_json(&rows);
        let list = listed(&app, &token, "external_account_id=acme").await;
        assert_eq!(list.len(), tricky.len());
        assert_eq!(csv.len(), list.len());
        let defused = |v: &str| if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
        for (row, item) in csv.iter().zip(&list) {
            let mut want = csv_of(item);
            want.values_mut().for_each(|v| *v = defused(v));
            assert_eq!(row, &want);
        }
        // Every cell a spreadsheet would run starts with the quote.
        for row in &rows {
            for cell in row {
                assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
            }
        }
        // The list's filters.
        for filter in ["status=succeeded", "status=requires_payment_method", "currency=eur",
            "external_customer_id=cust-2", "min_amount=10.03&max_amount=10.06", "currency=usd&min_amount=10.05"] {
            let (status, _, rows) = export(&app, &token, &format!("external_account_id=acme&{filter}")).await;
            assert_eq!(status, 200, "{filter}");
            let ids: Vec<String> = as_json(&rows).iter().map(|r| r["id"].clone()).collect();
            let want: Vec<String> = listed(&app, &token, &format!("external_account_id=acme&{filter}")).await
                .iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
            assert!(!want.is_empty(), "{filter} selects some");
            assert!(want.len() < tricky.len(), "{filter} leaves some out");
            assert_eq!(ids, want, "{filter}");
        }
        let future = (Utc::now() + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (status, text, rows) = export(&app, &token, &format!("external_account_id=acme&since={future}")).await;
        assert_eq!((status, rows.len()), (200, 1), "only the header: {text}");
    }
}
