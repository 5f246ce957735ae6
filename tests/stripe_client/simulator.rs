//! The client against the embedded simulator, over real HTTP: every operation the client offers,
//! with every parameter key it sent (from the simulator's request log) checked against the params
//! schema of its operation at the pinned API version (`conformance/schemas/stripe.json`); and, with fault injection on, retries that reuse one Idempotency-Key and create
//! exactly one object.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;
use stripe_client::*;
use stripe_sim::SimConfig;

use crate::mock::{MockStripe, Reply};
use crate::spec;
use crate::support::sim::{start, start_with, Sim};
use crate::support::wait::until_some;

const WEBHOOK_SECRET: &str = "whsec_client_tests";

/// A standalone simulator that POSTs its webhooks to `webhook_url`.
async fn sim_with_webhooks(webhook_url: Option<String>) -> Sim {
    start_with(SimConfig {
        webhook_url,
        webhook_secret: WEBHOOK_SECRET.into(),
        faults: Vec::new(),
        ..Default::default()
    })
    .await
}

fn account() -> StripeAccount {
    StripeAccount::new("sk_test_client_conformance")
}

fn key(what: &str) -> String {
    format!("{what}:{}", uuid::Uuid::new_v4())
}

fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A reader at a new location, and an authorised card-present intent for `customer`.
async fn authorised_intent(
    c: &StripeClient,
    a: &StripeAccount,
    customer: Option<&str>,
    amount: i64,
) -> (Reader, PaymentIntent) {
    let reader = c
        .create_reader(
            a,
            &CreateReader {
                registration_code: "simulated-wpe",
                label: Some("Till"),
                ..Default::default()
            },
            &key("reader"),
        )
        .await
        .unwrap();
    let pi = c
        .create_payment_intent(
            a,
            &CreatePaymentIntent {
                payment_method_types: &["card_present"],
                capture_method: Some(CaptureMethod::Manual),
                customer,
                setup_future_usage: customer.map(|_| SetupFutureUsage::OffSession),
                ..CreatePaymentIntent::new(amount, "usd")
            },
            &key("pi"),
        )
        .await
        .unwrap();
    c.process_payment_intent(
        a,
        &reader.id,
        &ProcessPaymentIntent {
            payment_intent: &pi.id,
            // Stripe requires the consent when the intent saves the card.
            process_config: customer.map(|_| ProcessConfig {
                allow_redisplay: Some(AllowRedisplay::Limited),
                ..Default::default()
            }),
            ..Default::default()
        },
        &key("process"),
    )
    .await
    .unwrap();
    c.present_payment_method(
        a,
        &reader.id,
        &PresentPaymentMethod {
            card_number: Some("4242424242424242"),
            ..Default::default()
        },
        &key("present"),
    )
    .await
    .unwrap();
    let pi = c
        .retrieve_payment_intent(a, &pi.id, &["latest_charge"])
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    (reader, pi)
}

/// What the cases of `every_operation_sends_only_parameters_the_spec_declares` share: the
/// simulator, a client for it, and the ids earlier cases created for later ones.
struct Run {
    sim: Sim,
    c: StripeClient,
    a: StripeAccount,
    tag: String,
    location: String,
    reader: String,
    customer: String,
    /// The customer's `external_customer_id`.
    ext: String,
    /// The captured card-present payment.
    pi: String,
    /// The card it saved.
    generated: String,
}

/// One case: a group of operations, with the checks of their answers.
type Case = for<'a> fn(&'a mut Run) -> BoxFuture<'a, ()>;

/// Every operation of the client, in an order where each case finds what it needs.
const CASES: [(&str, Case); 19] = [
    ("terminal", terminal),
    ("tipping_configuration", tipping_configuration),
    ("customers", customers),
    ("card_present_payment", card_present_payment),
    ("refunds", refunds),
    ("disputes", disputes),
    ("off_session", off_session),
    ("cancel", cancel),
    ("attach_detach", attach_detach),
    ("setup_intents", setup_intents),
    ("checkout_setup", checkout_setup),
    ("checkout_payment", checkout_payment),
    ("reader_action", reader_action),
    ("collect_then_confirm", collect_then_confirm),
    ("reader_refund", reader_refund),
    ("fleet", fleet),
    ("events", events),
    ("webhook_endpoints", webhook_endpoints),
    ("payouts", payouts),
];

#[tokio::test]
async fn every_operation_sends_only_parameters_the_spec_declares() {
    let sim = start().await;
    let c = sim.client(Duration::from_secs(10), 0, Duration::from_millis(1));
    let mut run = Run {
        sim,
        c,
        a: account(),
        tag: uuid::Uuid::new_v4().to_string(),
        location: String::new(),
        reader: String::new(),
        customer: String::new(),
        ext: String::new(),
        pi: String::new(),
        generated: String::new(),
    };
    for (name, case) in CASES {
        eprintln!("case {name}");
        case(&mut run).await;
    }
    let sim = &run.sim;

    // Every request: known operation, declared parameter keys, our headers.
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in sim.requests().await {
        let method = entry["method"].as_str().unwrap();
        let path = entry["path"].as_str().unwrap();
        assert_eq!(entry["status"], 200, "{entry:#}");
        let Some(template) = spec::match_path(method, path) else {
            errors.push(format!("{method} {path}: no such operation in the spec"));
            continue;
        };
        if method == "POST" {
            assert!(entry["idempotency_key"].is_string(), "{entry:#}");
        }
        for key in entry["params"].as_array().unwrap() {
            if let Err(why) = spec::check_param_key(method, &template, key.as_str().unwrap()) {
                errors.push(format!("{method} {template}: {why}"));
            }
        }
        seen.insert(format!("{method} {template}"));
    }
    assert!(
        errors.is_empty(),
        "undeclared parameters:\n{}",
        errors.join("\n")
    );
    let expected = [
        "GET /v1/balance_transactions",
        "GET /v1/balance_transactions/{id}",
        "GET /v1/charges/{charge}",
        "GET /v1/checkout/sessions",
        "GET /v1/checkout/sessions/{session}",
        "GET /v1/customers/search",
        "GET /v1/customers/{customer}",
        "GET /v1/customers/{customer}/payment_methods",
        "GET /v1/disputes",
        "GET /v1/disputes/{dispute}",
        "GET /v1/events",
        "GET /v1/events/{id}",
        "GET /v1/payment_intents/search",
        "GET /v1/payment_intents/{intent}",
        "GET /v1/payment_methods/{payment_method}",
        "GET /v1/payouts",
        "GET /v1/payouts/{payout}",
        "GET /v1/refunds/{refund}",
        "GET /v1/setup_intents/{intent}",
        "GET /v1/terminal/configurations/{configuration}",
        "DELETE /v1/terminal/configurations/{configuration}",
        "GET /v1/terminal/locations",
        "GET /v1/terminal/locations/{location}",
        "GET /v1/terminal/readers",
        "GET /v1/webhook_endpoints",
        "GET /v1/terminal/readers/{reader}",
        "POST /v1/checkout/sessions",
        "POST /v1/checkout/sessions/{session}/expire",
        "POST /v1/customers",
        "POST /v1/customers/{customer}",
        "POST /v1/disputes/{dispute}",
        "POST /v1/disputes/{dispute}/close",
        "POST /v1/files",
        "POST /v1/payment_intents",
        "POST /v1/payment_intents/{intent}",
        "POST /v1/payment_intents/{intent}/cancel",
        "POST /v1/payment_intents/{intent}/capture",
        "POST /v1/payment_intents/{intent}/confirm",
        "POST /v1/payment_intents/{intent}/increment_authorization",
        "POST /v1/payment_methods/{payment_method}/attach",
        "POST /v1/payment_methods/{payment_method}/detach",
        "POST /v1/refunds",
        "POST /v1/setup_intents",
        "POST /v1/setup_intents/{intent}/cancel",
        "POST /v1/terminal/configurations",
        "POST /v1/terminal/configurations/{configuration}",
        "POST /v1/terminal/connection_tokens",
        "POST /v1/terminal/locations",
        "POST /v1/terminal/locations/{location}",
        "DELETE /v1/terminal/locations/{location}",
        "POST /v1/terminal/readers",
        "POST /v1/terminal/readers/{reader}",
        "DELETE /v1/terminal/readers/{reader}",
        "POST /v1/terminal/readers/{reader}/cancel_action",
        "POST /v1/terminal/readers/{reader}/collect_payment_method",
        "POST /v1/terminal/readers/{reader}/confirm_payment_intent",
        "POST /v1/terminal/readers/{reader}/process_payment_intent",
        "POST /v1/terminal/readers/{reader}/refund_payment",
        "GET /v1/refunds",
        "POST /v1/terminal/readers/{reader}/process_setup_intent",
        "POST /v1/test_helpers/terminal/readers/{reader}/present_payment_method",
        "POST /v1/webhook_endpoints",
        "POST /v1/webhook_endpoints/{webhook_endpoint}",
    ];
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen, expected);
}

/// Terminal Configurations: tipping created, assigned to the location, read back, updated,
/// unset, deleted (which unassigns it).
fn tipping_configuration(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a, location) = (run.c.clone(), run.a.clone(), run.location.clone());
        let mut tipping = std::collections::BTreeMap::new();
        tipping.insert(
            "usd".to_string(),
            CurrencyTipping {
                percentages: Some(vec![15, 20, 25]),
                fixed_amounts: Some(vec![100, 200]),
                smart_tip_threshold: Some(1000),
            },
        );
        let made = c
            .create_terminal_configuration(
                &a,
                &ConfigurationParams {
                    name: Some("Bar tips"),
                    tipping: Some(&tipping),
                    wisepos_e_splashscreen: None,
                },
                &key("tmc"),
            )
            .await
            .unwrap();
        assert_eq!(made.tipping.as_ref(), Some(&tipping));
        let assigned = c
            .update_location(
                &a,
                &location,
                &UpdateLocation {
                    configuration_overrides: Some(&made.id),
                    ..Default::default()
                },
                &key("tml-update"),
            )
            .await
            .unwrap();
        assert_eq!(
            assigned.configuration_overrides.as_deref(),
            Some(made.id.as_str())
        );
        let read = c.retrieve_location(&a, &location).await.unwrap();
        assert_eq!(
            read.configuration_overrides,
            assigned.configuration_overrides
        );
        let retrieved = c
            .retrieve_terminal_configuration(&a, &made.id)
            .await
            .unwrap();
        assert_eq!(retrieved.name.as_deref(), Some("Bar tips"));
        let empty = std::collections::BTreeMap::new();
        let unset = c
            .update_terminal_configuration(
                &a,
                &made.id,
                &ConfigurationParams {
                    name: None,
                    tipping: Some(&empty),
                    wisepos_e_splashscreen: None,
                },
                &key("tmc-update"),
            )
            .await
            .unwrap();
        assert!(unset.tipping.unwrap_or_default().is_empty());
        let deleted = c.delete_terminal_configuration(&a, &made.id).await.unwrap();
        assert!(deleted.deleted);
        let read = c.retrieve_location(&a, &location).await.unwrap();
        assert_eq!(read.configuration_overrides, None);
    })
}

/// Terminal: a location, a reader at it, a connection token.
fn terminal(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let location = c
            .create_location(
                &a,
                &CreateLocation {
                    display_name: "Front desk",
                    address: AddressParams {
                        line1: Some("1 Main St"),
                        line2: Some("Unit 2"),
                        city: Some("Springfield"),
                        state: Some("IL"),
                        postal_code: Some("62701"),
                        country: "US",
                    },
                    metadata: Some(&metadata(&[("tag", &run.tag)])),
                },
                &key("location"),
            )
            .await
            .unwrap();
        assert_eq!(location.address.city.as_deref(), Some("Springfield"));
        let locations = c
            .list_locations(
                &a,
                &ListLocations {
                    limit: Some(10),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(locations.data.iter().any(|l| l.id == location.id));
        let reader = c
            .create_reader(
                &a,
                &CreateReader {
                    registration_code: "simulated-wpe",
                    label: Some("Till 1"),
                    location: Some(&location.id),
                    metadata: Some(&metadata(&[("tag", &run.tag)])),
                },
                &key("reader"),
            )
            .await
            .unwrap();
        let readers = c
            .list_readers(
                &a,
                &ListReaders {
                    location: Some(&location.id),
                    page: ListParams {
                        limit: Some(5),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(readers.data.len(), 1);
        let fetched = c.retrieve_reader(&a, &reader.id, &[]).await.unwrap();
        assert_eq!(fetched.location.unwrap().id(), location.id);
        let token = c
            .create_connection_token(&a, Some(&location.id), &key("token"))
            .await
            .unwrap();
        assert!(!token.secret.expose().is_empty());
        run.location = location.id.clone();
        run.reader = reader.id.clone();
    })
}

/// Customers: created, read, updated, found by metadata.
fn customers(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        run.ext = format!("customer-{}", run.tag);
        let ext = run.ext.clone();
        let customer = c
            .create_customer(
                &a,
                &CreateCustomer {
                    email: Some("ada@example.com"),
                    name: Some("Ada"),
                    phone: Some("+15555550100"),
                    description: Some("regular"),
                    metadata: Some(&metadata(&[("external_customer_id", &ext)])),
                    ..Default::default()
                },
                &key("customer"),
            )
            .await
            .unwrap();
        let same = c.retrieve_customer(&a, &customer.id, &[]).await.unwrap();
        assert_eq!(same.metadata["external_customer_id"], ext);
        let updated = c
            .update_customer(
                &a,
                &customer.id,
                &UpdateCustomer {
                    description: Some("VIP"),
                    metadata: Some(&metadata(&[("tier", "gold")])),
                    ..Default::default()
                },
                &key("customer-update"),
            )
            .await
            .unwrap();
        assert_eq!(updated.description.as_deref(), Some("VIP"));
        assert_eq!(updated.metadata.len(), 2);
        let query = metadata_query("external_customer_id", &ext);
        let found = c
            .search_customers(
                &a,
                &SearchParams {
                    query: &query,
                    limit: Some(2),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(found.data.len(), 1);
        run.customer = customer.id.clone();
    })
}

/// The card-present payment: create, update, search, process on the reader, present a card,
/// increment, capture partially; the saved card.
fn card_present_payment(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let tx = format!("tx-{}", run.tag);
        let tx_metadata = metadata(&[("external_transaction_id", &tx)]);
        let pi = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card_present"],
                    capture_method: Some(CaptureMethod::Manual),
                    customer: Some(&run.customer),
                    setup_future_usage: Some(SetupFutureUsage::OffSession),
                    description: Some("Lunch"),
                    metadata: Some(&tx_metadata),
                    card_present: Some(CardPresentOptions {
                        request_incremental_authorization_support: Some(true),
                        ..Default::default()
                    }),
                    ..CreatePaymentIntent::new(1299, "usd")
                },
                &key("pi"),
            )
            .await
            .unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
        assert!(pi.client_secret.is_some());
        let pi = c
            .update_payment_intent(
                &a,
                &pi.id,
                &UpdatePaymentIntent {
                    description: Some("Lunch for two"),
                    metadata: Some(&metadata(&[("table", "7")])),
                    ..Default::default()
                },
                &key("pi-update"),
            )
            .await
            .unwrap();
        assert_eq!(pi.metadata["table"], "7");
        let query = metadata_query("external_transaction_id", &tx);
        let found = c
            .search_payment_intents(
                &a,
                &SearchParams {
                    query: &query,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(found.data.len(), 1);
        let reader_state = c
            .process_payment_intent(
                &a,
                &run.reader,
                &ProcessPaymentIntent {
                    payment_intent: &pi.id,
                    process_config: Some(ProcessConfig {
                        skip_tipping: Some(true),
                        allow_redisplay: Some(AllowRedisplay::Limited),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &key("process"),
            )
            .await
            .unwrap();
        let action = reader_state.action.unwrap();
        assert_eq!(action.action_type, ReaderActionType::ProcessPaymentIntent);
        c.present_payment_method(
            &a,
            &run.reader,
            &PresentPaymentMethod {
                card_number: Some("4242424242424242"),
                ..Default::default()
            },
            &key("present"),
        )
        .await
        .unwrap();
        let pi = c
            .retrieve_payment_intent(&a, &pi.id, &["latest_charge"])
            .await
            .unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
        assert_eq!(pi.amount_capturable, 1299);
        let charge = pi.latest_charge.as_ref().unwrap().as_object().unwrap();
        let card = charge.card_present().unwrap();
        assert_eq!(card.brand.as_deref(), Some("visa"));
        assert_eq!(card.last4.as_deref(), Some("4242"));
        assert!(
            card.exp_month.is_some() && card.exp_year.is_some() && card.capture_before.is_some()
        );
        let generated = card.generated_card.clone().unwrap();
        let pi = c
            .increment_authorization(
                &a,
                &pi.id,
                &IncrementAuthorization {
                    amount: 1500,
                    ..Default::default()
                },
                &key("increment"),
            )
            .await
            .unwrap();
        assert_eq!(pi.amount_capturable, 1500);
        let pi = c
            .capture_payment_intent(
                &a,
                &pi.id,
                &CapturePaymentIntent {
                    amount_to_capture: Some(1400),
                    metadata: Some(&metadata(&[("captured_by", "till-1")])),
                    ..Default::default()
                },
                &key("capture"),
            )
            .await
            .unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
        assert_eq!(pi.amount_received, 1400);
        let charge_id = pi.latest_charge.as_ref().unwrap().id().to_string();
        let charge = c.retrieve_charge(&a, &charge_id, &[]).await.unwrap();
        assert_eq!(charge.amount_captured, 1400);
        assert!(charge.captured);
        let saved = c
            .retrieve_payment_method(&a, &generated, &[])
            .await
            .unwrap();
        assert_eq!(saved.method_type, PaymentMethodType::Card);
        assert_eq!(saved.customer.as_ref().unwrap().id(), run.customer);
        let card = saved.card.as_ref().unwrap();
        assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
        let cards = c
            .list_customer_payment_methods(
                &a,
                &run.customer,
                &ListCustomerPaymentMethods {
                    method_type: Some(PaymentMethodType::Card),
                    page: ListParams {
                        limit: Some(10),
                        ..Default::default()
                    },
                },
            )
            .await
            .unwrap();
        assert!(cards.data.iter().any(|pm| pm.id == generated));
        run.pi = pi.id.clone();
        run.generated = generated;
    })
}

/// Refunds.
fn refunds(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let refund = c
            .create_refund(
                &a,
                &CreateRefund {
                    payment_intent: Some(&run.pi),
                    amount: Some(400),
                    reason: Some(RefundReason::RequestedByCustomer),
                    metadata: Some(&metadata(&[("why", "cold soup")])),
                    ..Default::default()
                },
                &key("refund"),
            )
            .await
            .unwrap();
        assert_eq!(refund.amount, 400);
        let refund = c.retrieve_refund(&a, &refund.id, &[]).await.unwrap();
        assert_eq!(refund.payment_intent.unwrap().id(), run.pi);
    })
}

/// A captured payment with Stripe's fraudulent dispute card, on the run's reader.
async fn disputed_payment(run: &Run, amount: i64) -> PaymentIntent {
    let (c, a) = (&run.c, &run.a);
    let pi = c
        .create_payment_intent(
            a,
            &CreatePaymentIntent {
                payment_method_types: &["card_present"],
                capture_method: Some(CaptureMethod::Manual),
                ..CreatePaymentIntent::new(amount, "usd")
            },
            &key("dispute-pi"),
        )
        .await
        .unwrap();
    let process = ProcessPaymentIntent {
        payment_intent: &pi.id,
        ..Default::default()
    };
    c.process_payment_intent(a, &run.reader, &process, &key("dispute-process"))
        .await
        .unwrap();
    let present = PresentPaymentMethod {
        card_number: Some("4000000000000259"),
        ..Default::default()
    };
    c.present_payment_method(a, &run.reader, &present, &key("dispute-present"))
        .await
        .unwrap();
    c.capture_payment_intent(a, &pi.id, &Default::default(), &key("dispute-capture"))
        .await
        .unwrap()
}

/// Disputes: listed by PaymentIntent and charge, evidence with an uploaded file, won; another
/// closed.
fn disputes(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let pi = disputed_payment(run, 2500).await;
        let page = c
            .list_disputes(
                &a,
                &ListDisputes {
                    payment_intent: Some(&pi.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.data.len(), 1);
        let dispute = c.retrieve_dispute(&a, &page.data[0].id).await.unwrap();
        assert_eq!(dispute.status, DisputeStatus::NeedsResponse);
        assert_eq!((dispute.amount, dispute.currency.as_str()), (2500, "usd"));
        assert_eq!(dispute.reason, "fraudulent");
        assert_eq!(dispute.balance_transactions[0].net, -4000);
        assert!(dispute.evidence_details.due_by.is_some());
        let by_charge = c
            .list_disputes(
                &a,
                &ListDisputes {
                    charge: Some(dispute.charge.id()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(by_charge.data[0].id, dispute.id);
        let file = c
            .upload_file(
                &a,
                &UploadFile {
                    purpose: FilePurpose::DisputeEvidence,
                    filename: "receipt.pdf",
                    content_type: "application/pdf",
                    bytes: b"%PDF-1.4\n%%EOF\n",
                },
                &key("file"),
            )
            .await
            .unwrap();
        assert!(file.id.starts_with("file_"));
        assert_eq!((file.size, file.file_type.as_deref()), (15, Some("pdf")));
        let staged = c
            .update_dispute(
                &a,
                &dispute.id,
                &UpdateDispute {
                    evidence: &[("receipt", &file.id), ("customer_name", "Jane Doe")],
                    metadata: Some(&metadata(&[("case", "7")])),
                    submit: Some(false),
                },
                &key("dispute-stage"),
            )
            .await
            .unwrap();
        assert_eq!(staged.status, DisputeStatus::NeedsResponse);
        assert_eq!(staged.evidence.receipt.as_deref(), Some(file.id.as_str()));
        assert_eq!(staged.metadata["case"], "7");
        let won = c
            .update_dispute(
                &a,
                &dispute.id,
                &UpdateDispute {
                    evidence: &[("uncategorized_text", "winning_evidence")],
                    ..Default::default()
                },
                &key("dispute-submit"),
            )
            .await
            .unwrap();
        assert_eq!(won.status, DisputeStatus::Won);
        assert_eq!(won.evidence_details.submission_count, 1);
        assert_eq!(won.balance_transactions[1].amount, 2500);

        let other = disputed_payment(run, 700).await;
        let page = c
            .list_disputes(
                &a,
                &ListDisputes {
                    payment_intent: Some(&other.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let closed = c
            .close_dispute(&a, &page.data[0].id, &key("dispute-close"))
            .await
            .unwrap();
        assert_eq!(closed.status, DisputeStatus::Lost);
    })
}

/// Charging the saved card off-session, at once and by a separate confirm.
fn off_session(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let charged = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card"],
                    customer: Some(&run.customer),
                    payment_method: Some(&run.generated),
                    confirm: Some(true),
                    off_session: Some(true),
                    ..CreatePaymentIntent::new(2500, "usd")
                },
                &key("off-session"),
            )
            .await
            .unwrap();
        assert_eq!(charged.status, PaymentIntentStatus::Succeeded);
        let later = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card"],
                    customer: Some(&run.customer),
                    payment_method: Some(&run.generated),
                    ..CreatePaymentIntent::new(700, "usd")
                },
                &key("to-confirm"),
            )
            .await
            .unwrap();
        let confirmed = c
            .confirm_payment_intent(
                &a,
                &later.id,
                &ConfirmPaymentIntent {
                    off_session: Some(true),
                    ..Default::default()
                },
                &key("confirm"),
            )
            .await
            .unwrap();
        assert_eq!(confirmed.status, PaymentIntentStatus::Succeeded);
    })
}

/// Cancel an authorisation.
fn cancel(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let (_, to_void) = authorised_intent(&c, &a, None, 800).await;
        let voided = c
            .cancel_payment_intent(
                &a,
                &to_void.id,
                &CancelPaymentIntent {
                    cancellation_reason: Some(CancellationReason::RequestedByCustomer),
                    ..Default::default()
                },
                &key("cancel"),
            )
            .await
            .unwrap();
        assert_eq!(voided.status, PaymentIntentStatus::Canceled);
    })
}

/// Attach and detach.
fn attach_detach(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let attached = c
            .attach_payment_method(&a, "pm_card_visa", &run.customer, &key("attach"))
            .await
            .unwrap();
        assert_eq!(attached.customer.as_ref().unwrap().id(), run.customer);
        let detached = c
            .detach_payment_method(&a, &attached.id, &key("detach"))
            .await
            .unwrap();
        assert!(detached.customer.is_none());
    })
}

/// SetupIntents.
fn setup_intents(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let setup = c
            .create_setup_intent(
                &a,
                &CreateSetupIntent {
                    customer: Some(&run.customer),
                    payment_method_types: &["card"],
                    usage: Some(SetupFutureUsage::OffSession),
                    description: Some("card on file"),
                    metadata: Some(&metadata(&[("tag", &run.tag)])),
                    ..Default::default()
                },
                &key("setup"),
            )
            .await
            .unwrap();
        let setup = c
            .retrieve_setup_intent(&a, &setup.id, &["payment_method"])
            .await
            .unwrap();
        assert_eq!(setup.customer.unwrap().id(), run.customer);

        // Saved on the reader without a payment: a card_present SetupIntent processed by the
        // reader; its SetupAttempt names the generated card.
        let present = c
            .create_setup_intent(
                &a,
                &CreateSetupIntent {
                    customer: Some(&run.customer),
                    payment_method_types: &["card_present"],
                    usage: Some(SetupFutureUsage::OffSession),
                    ..Default::default()
                },
                &key("setup-present"),
            )
            .await
            .unwrap();
        assert_eq!(present.payment_method_types, ["card_present"]);
        let reader = c
            .process_setup_intent(
                &a,
                &run.reader,
                &ProcessSetupIntent {
                    setup_intent: &present.id,
                    allow_redisplay: AllowRedisplay::Limited,
                    enable_customer_cancellation: Some(false),
                    expand: &[],
                },
                &key("process-setup"),
            )
            .await
            .unwrap();
        let action = reader.action.unwrap();
        assert_eq!(action.action_type, ReaderActionType::ProcessSetupIntent);
        assert_eq!(
            action.process_setup_intent.unwrap().setup_intent.id(),
            present.id
        );
        let reader = c
            .present_payment_method(
                &a,
                &run.reader,
                &PresentPaymentMethod {
                    card_number: Some("4242424242424242"),
                    ..Default::default()
                },
                &key("present-setup"),
            )
            .await
            .unwrap();
        let done = reader.action.unwrap();
        assert_eq!(done.status, ReaderActionStatus::Succeeded);
        let generated_on_action = done.process_setup_intent.unwrap().generated_card;
        let present = c
            .retrieve_setup_intent(
                &a,
                &present.id,
                &["latest_attempt.payment_method_details.card_present.generated_card"],
            )
            .await
            .unwrap();
        assert_eq!(present.status, SetupIntentStatus::Succeeded);
        let card = present
            .generated_card()
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(Some(card.id.clone()), generated_on_action);
        assert_eq!(
            card.customer.as_ref().map(|c| c.id()),
            Some(run.customer.as_str())
        );
        let details = card.card.unwrap();
        assert_eq!(details.last4, "4242");
        let from = details.generated_from.unwrap();
        assert_eq!(from.charge, None);
        assert_eq!(
            from.setup_attempt.map(|s| s.id().to_string()),
            present.latest_attempt.map(|a| a.id().to_string())
        );

        // Canceled before a card was read.
        let abandoned = c
            .create_setup_intent(
                &a,
                &CreateSetupIntent {
                    customer: Some(&run.customer),
                    payment_method_types: &["card_present"],
                    ..Default::default()
                },
                &key("setup-abandoned"),
            )
            .await
            .unwrap();
        let canceled = c
            .cancel_setup_intent(
                &a,
                &abandoned.id,
                Some(SetupCancellationReason::Abandoned),
                &key("setup-cancel"),
            )
            .await
            .unwrap();
        assert_eq!(canceled.status, SetupIntentStatus::Canceled);
        assert_eq!(canceled.cancellation_reason.as_deref(), Some("abandoned"));
    })
}

/// Checkout: setup mode, completed, read back with its SetupIntent in one call.
fn checkout_setup(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let session = c
            .create_checkout_session(
                &a,
                &CreateCheckoutSession {
                    success_url: Some("https://pos.example/saved?session={CHECKOUT_SESSION_ID}"),
                    cancel_url: Some("https://pos.example/cancel"),
                    customer: Some(&run.customer),
                    payment_method_types: &["card"],
                    metadata: Some(&metadata(&[("tag", &run.tag)])),
                    setup_intent_metadata: Some(&metadata(&[("external_customer_id", &run.ext)])),
                    ..CreateCheckoutSession::new(CheckoutMode::Setup)
                },
                &key("checkout-setup"),
            )
            .await
            .unwrap();
        assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
        assert!(session.url.is_some());
        run.sim.complete_checkout(&session.id).await;
        let session = c
            .retrieve_checkout_session(&a, &session.id, &["setup_intent"])
            .await
            .unwrap();
        assert_eq!(session.status, Some(CheckoutSessionStatus::Complete));
        let setup = session.setup_intent.unwrap().into_object().unwrap();
        assert_eq!(setup.status, SetupIntentStatus::Succeeded);
        assert!(setup.payment_method.is_some());
    })
}

/// Checkout: payment mode, paid, found by its PaymentIntent; another one expired.
fn checkout_payment(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let items = [
            CheckoutLineItem {
                name: "Room",
                unit_amount: 10000,
                currency: "usd",
                quantity: 2,
                ..Default::default()
            },
            CheckoutLineItem {
                name: "Breakfast",
                description: Some("Daily"),
                unit_amount: 1550,
                currency: "usd",
                quantity: 1,
            },
        ];
        let expires_at = chrono::Utc::now().timestamp() + 3600;
        let reference = format!("booking-{}", run.tag);
        let payment_session = |idem: String| {
            let (c, a, items, reference) = (c.clone(), a.clone(), items, reference.clone());
            async move {
                c.create_checkout_session(
                    &a,
                    &CreateCheckoutSession {
                        success_url: Some("https://pos.example/paid"),
                        cancel_url: Some("https://pos.example/cancel"),
                        customer_email: Some("guest@example.com"),
                        line_items: &items,
                        client_reference_id: Some(&reference),
                        expires_at: Some(expires_at),
                        payment_intent_data: Some(CheckoutPaymentIntentData {
                            description: Some("Booking"),
                            metadata: Some(&metadata(&[("reference", &reference)])),
                            ..Default::default()
                        }),
                        ..CreateCheckoutSession::new(CheckoutMode::Payment)
                    },
                    &idem,
                )
                .await
                .unwrap()
            }
        };
        let paid = payment_session(key("checkout-pay")).await;
        assert_eq!(paid.amount_total, Some(21550));
        run.sim.complete_checkout(&paid.id).await;
        let paid = c
            .retrieve_checkout_session(&a, &paid.id, &["payment_intent"])
            .await
            .unwrap();
        assert_eq!(paid.payment_status, Some(CheckoutPaymentStatus::Paid));
        let paid_pi = paid.payment_intent.as_ref().unwrap().id().to_string();
        let listed = c
            .list_checkout_sessions(
                &a,
                &ListCheckoutSessions {
                    payment_intent: Some(&paid_pi),
                    page: ListParams {
                        limit: Some(3),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(listed.data.len(), 1);
        assert_eq!(listed.data[0].id, paid.id);
        let abandoned = payment_session(key("checkout-abandoned")).await;
        let expired = c
            .expire_checkout_session(&a, &abandoned.id, &key("expire"))
            .await
            .unwrap();
        assert_eq!(expired.status, Some(CheckoutSessionStatus::Expired));
    })
}

/// A reader action canceled.
fn reader_action(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let busy = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card_present"],
                    ..CreatePaymentIntent::new(500, "usd")
                },
                &key("pi-busy"),
            )
            .await
            .unwrap();
        c.process_payment_intent(
            &a,
            &run.reader,
            &ProcessPaymentIntent {
                payment_intent: &busy.id,
                ..Default::default()
            },
            &key("process-busy"),
        )
        .await
        .unwrap();
        let idle = c
            .cancel_reader_action(&a, &run.reader, &key("cancel-action"))
            .await
            .unwrap();
        assert!(idle
            .action
            .is_none_or(|action| action.status != ReaderActionStatus::InProgress));
    })
}

/// A refund in person: an Interac payment refunded on the reader in part, with metadata (copied
/// onto the refund) and a cancel button; the typed action names the refund, which the intent's
/// refund list shows; another card fails the next action with Stripe's code.
fn reader_refund(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let pi = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card_present", "interac_present"],
                    ..CreatePaymentIntent::new(2500, "cad")
                },
                &key("pi-interac"),
            )
            .await
            .unwrap();
        c.process_payment_intent(
            &a,
            &run.reader,
            &ProcessPaymentIntent {
                payment_intent: &pi.id,
                ..Default::default()
            },
            &key("process-interac"),
        )
        .await
        .unwrap();
        let interac = PresentPaymentMethod {
            payment_type: Some("interac_present"),
            interac_number: Some("4506445006931933"),
            ..Default::default()
        };
        c.present_payment_method(&a, &run.reader, &interac, &key("present-interac"))
            .await
            .unwrap();
        let mut metadata = Metadata::new();
        metadata.insert("reader_refund_id".into(), "rrf_client".into());
        let started = c
            .refund_payment(
                &a,
                &run.reader,
                &RefundPayment {
                    payment_intent: Some(&pi.id),
                    amount: Some(1000),
                    metadata: Some(&metadata),
                    enable_customer_cancellation: Some(true),
                    ..Default::default()
                },
                &key("refund-payment"),
            )
            .await
            .unwrap();
        let action = started.action.unwrap();
        assert_eq!(
            (action.action_type, action.status),
            (
                ReaderActionType::RefundPayment,
                ReaderActionStatus::InProgress
            )
        );
        assert_eq!(action.refund_payment.as_ref().unwrap().amount, Some(1000));
        let done = c
            .present_payment_method(&a, &run.reader, &interac, &key("present-refund"))
            .await
            .unwrap();
        let action = done.action.unwrap();
        assert_eq!(action.status, ReaderActionStatus::Succeeded);
        let refund_payment = action.refund_payment.unwrap();
        assert_eq!(
            refund_payment
                .metadata
                .get("reader_refund_id")
                .map(String::as_str),
            Some("rrf_client")
        );
        let refund = refund_payment.refund.unwrap().id().to_string();
        let listed = c
            .list_refunds(
                &a,
                &ListRefunds {
                    payment_intent: Some(&pi.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(listed.data.len(), 1);
        assert_eq!(
            (listed.data[0].id.as_str(), listed.data[0].amount),
            (refund.as_str(), 1000)
        );
        assert_eq!(
            listed.data[0]
                .metadata
                .get("reader_refund_id")
                .map(String::as_str),
            Some("rrf_client")
        );

        c.refund_payment(
            &a,
            &run.reader,
            &RefundPayment {
                payment_intent: Some(&pi.id),
                ..Default::default()
            },
            &key("refund-payment-2"),
        )
        .await
        .unwrap();
        let failed = c
            .present_payment_method(
                &a,
                &run.reader,
                &PresentPaymentMethod {
                    card_number: Some("4242424242424242"),
                    ..Default::default()
                },
                &key("present-wrong-card"),
            )
            .await
            .unwrap();
        let action = failed.action.unwrap();
        assert_eq!(action.status, ReaderActionStatus::Failed);
        assert_eq!(action.failure_code.as_deref(), Some("card_mismatch"));
        assert_eq!(action.refund_payment.unwrap().amount, Some(1500));
    })
}

/// The two halves of a reader payment: the card collected (and decoded from the action, Apple
/// Pay and all), then confirmed by the reader.
fn collect_then_confirm(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let pi = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card_present"],
                    capture_method: Some(CaptureMethod::Manual),
                    ..CreatePaymentIntent::new(700, "usd")
                },
                &key("pi-collect"),
            )
            .await
            .unwrap();
        let collecting = c
            .collect_payment_method(
                &a,
                &run.reader,
                &ReaderCollectPaymentMethod {
                    payment_intent: &pi.id,
                    collect_config: Some(ProcessConfig {
                        skip_tipping: Some(true),
                        ..Default::default()
                    }),
                },
                &key("collect"),
            )
            .await
            .unwrap();
        let action = collecting.action.unwrap();
        assert_eq!(action.action_type, ReaderActionType::CollectPaymentMethod);
        assert_eq!(action.payment_intent_id(), Some(pi.id.as_str()));
        let collected = c
            .present_payment_method(
                &a,
                &run.reader,
                &PresentPaymentMethod {
                    card_number: Some("4111111111111111"),
                    ..Default::default()
                },
                &key("present-collect"),
            )
            .await
            .unwrap();
        let action = collected.action.unwrap();
        assert_eq!(action.status, ReaderActionStatus::Succeeded);
        let method = action
            .collect_payment_method
            .and_then(|c| c.payment_method)
            .unwrap();
        let card = method.card_present.unwrap();
        assert_eq!(card.last4.as_deref(), Some("1111"));
        assert_eq!(
            card.wallet.map(|w| w.wallet_type).as_deref(),
            Some("apple_pay")
        );
        let confirmed = c
            .confirm_reader_payment_intent(
                &a,
                &run.reader,
                &ReaderConfirmPaymentIntent {
                    payment_intent: &pi.id,
                    return_url: None,
                },
                &key("confirm"),
            )
            .await
            .unwrap();
        let action = confirmed.action.unwrap();
        assert_eq!(action.action_type, ReaderActionType::ConfirmPaymentIntent);
        assert_eq!(action.status, ReaderActionStatus::Succeeded);
        let pi = c.retrieve_payment_intent(&a, &pi.id, &[]).await.unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    })
}

/// The fleet: a location renamed and moved down the street, a reader there renamed, found by
/// status (taken offline with the simulator's helper), then both deleted.
fn fleet(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let location = c
            .create_location(
                &a,
                &CreateLocation {
                    display_name: "Pop-up",
                    address: AddressParams {
                        line1: Some("5 Side St"),
                        city: Some("Springfield"),
                        country: "US",
                        ..Default::default()
                    },
                    metadata: None,
                },
                &key("fleet-location"),
            )
            .await
            .unwrap();
        let moved = c
            .update_location(
                &a,
                &location.id,
                &UpdateLocation {
                    display_name: Some("Pop-up (summer)"),
                    address: Some(AddressParams {
                        line1: Some("7 Side St"),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &key("fleet-location-update"),
            )
            .await
            .unwrap();
        assert_eq!(moved.display_name, "Pop-up (summer)");
        assert_eq!(moved.address.line1.as_deref(), Some("7 Side St"));
        assert_eq!(moved.address.country.as_deref(), Some("US"));
        let reader = c
            .create_reader(
                &a,
                &CreateReader {
                    registration_code: "simulated-wpe",
                    label: Some("Pop-up till"),
                    location: Some(&location.id),
                    metadata: None,
                },
                &key("fleet-reader"),
            )
            .await
            .unwrap();
        assert_eq!(reader.status, Some(ReaderStatus::Online));
        assert!(reader.last_seen_at.is_some_and(|t| t > 1_000_000_000_000));
        let renamed = c
            .update_reader(
                &a,
                &reader.id,
                &UpdateReader {
                    label: Some("Pop-up till 2"),
                    metadata: Some(&metadata(&[("tag", &run.tag)])),
                },
                &key("fleet-reader-update"),
            )
            .await
            .unwrap();
        assert_eq!(renamed.label, "Pop-up till 2");
        assert_eq!(renamed.metadata.get("tag"), Some(&run.tag));
        let offline = run
            .sim
            .sim(
                reqwest::Method::POST,
                &format!("/_sim/terminal/readers/{}/offline", reader.id),
                None,
            )
            .await
            .ok();
        assert_eq!(offline["status"], "offline");
        let by_status = |status: ReaderStatus| {
            let (c, a, location) = (c.clone(), a.clone(), location.id.clone());
            async move {
                c.list_readers(
                    &a,
                    &ListReaders {
                        location: Some(&location),
                        status: Some(&status),
                        device_type: Some("simulated_wisepos_e"),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            by_status(ReaderStatus::Offline).await,
            vec![reader.id.clone()]
        );
        assert!(by_status(ReaderStatus::Online).await.is_empty());
        let deleted = c.delete_reader(&a, &reader.id).await.unwrap();
        assert!(deleted.deleted);
        assert_eq!(
            (deleted.id, deleted.object.as_str()),
            (reader.id.clone(), "terminal.reader")
        );
        let deleted = c.delete_location(&a, &location.id).await.unwrap();
        assert!(deleted.deleted);
        assert_eq!(deleted.object, "terminal.location");
    })
}

/// Events.
fn events(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let events = c
            .list_events(
                &a,
                &ListEvents {
                    event_type: Some("payment_intent.succeeded"),
                    created_gte: Some(0),
                    page: ListParams {
                        limit: Some(3),
                        ..Default::default()
                    },
                },
            )
            .await
            .unwrap();
        assert!(!events.data.is_empty());
        let event = c.retrieve_event(&a, &events.data[0].id).await.unwrap();
        assert_eq!(event.event_type, "payment_intent.succeeded");
        let from_event: PaymentIntent = event.object().unwrap();
        assert_eq!(from_event.status, PaymentIntentStatus::Succeeded);
    })
}

/// Payouts: a large captured sale, the simulator's payout test helper, then the payout and what
/// it paid out, read back through the client.
fn payouts(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let pi = c
            .create_payment_intent(
                &a,
                &CreatePaymentIntent {
                    payment_method_types: &["card_present"],
                    capture_method: Some(CaptureMethod::Manual),
                    ..CreatePaymentIntent::new(100_000, "usd")
                },
                &key("payout-pi"),
            )
            .await
            .unwrap();
        let process = ProcessPaymentIntent {
            payment_intent: &pi.id,
            ..Default::default()
        };
        c.process_payment_intent(&a, &run.reader, &process, &key("payout-process"))
            .await
            .unwrap();
        c.present_payment_method(&a, &run.reader, &Default::default(), &key("payout-present"))
            .await
            .unwrap();
        c.capture_payment_intent(&a, &pi.id, &Default::default(), &key("payout-capture"))
            .await
            .unwrap();
        let ran = run
            .sim
            .sim(
                reqwest::Method::POST,
                "/_sim/payouts",
                Some(json!({"api_key": "sk_test_client_conformance"})),
            )
            .await
            .ok();
        // One payout per currency of the available balance (earlier cases sold in CAD too).
        let id = ran["payouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["currency"] == "usd")
            .and_then(|p| p["id"].as_str())
            .unwrap()
            .to_string();
        let paid = PayoutStatus::Paid;
        let listed = c
            .list_payouts(
                &a,
                &ListPayouts {
                    status: Some(&paid),
                    arrival_date_gte: Some(0),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(listed.data.iter().any(|p| p.id == id), "{id} listed");
        let payout = c.retrieve_payout(&a, &id).await.unwrap();
        assert_eq!(payout.status, PayoutStatus::Paid);
        assert!(payout.automatic);
        assert_eq!(payout.currency, "usd");
        let txns = c.payout_balance_transactions(&a, &id).await.unwrap();
        let own: Vec<&BalanceTransaction> = txns
            .iter()
            .filter(|t| t.transaction_type == BalanceTransactionType::Payout)
            .collect();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].amount, -payout.amount);
        assert_eq!(
            Some(own[0].id.as_str()),
            payout.balance_transaction.as_ref().map(|t| t.id())
        );
        let paid_out: i64 = txns
            .iter()
            .filter(|t| t.transaction_type != BalanceTransactionType::Payout)
            .map(|t| t.net)
            .sum();
        assert_eq!(paid_out, payout.amount, "gross − fees of what it paid");
        let sale = txns
            .iter()
            .find(|t| t.transaction_type == BalanceTransactionType::Charge && t.amount == 100_000)
            .expect("the sale is paid out");
        // 2.7% of 1000.00 + 0.05.
        assert_eq!((sale.fee, sale.net), (2705, 97_295));
        assert_eq!(sale.fee_details[0].amount, 2705);
        let source = sale.source.as_ref().and_then(|s| s.as_object()).unwrap();
        assert_eq!(source["payment_intent"], pi.id.as_str());
        let one = c.retrieve_balance_transaction(&a, &sale.id).await.unwrap();
        assert_eq!(one.source_id(), sale.source_id());
        let charges = c
            .list_balance_transactions(
                &a,
                &ListBalanceTransactions {
                    payout: Some(&id),
                    transaction_type: Some(&BalanceTransactionType::Charge),
                    page: ListParams {
                        limit: Some(1),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(charges.data.len(), 1);
    })
}

fn webhook_endpoints(run: &mut Run) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        let (c, a) = (run.c.clone(), run.a.clone());
        let role = metadata(&[("role", "platform")]);
        let mut created = Vec::new();
        for i in 0..3 {
            let url = format!("https://pos.example/hook/{i}");
            let endpoint = c
                .create_webhook_endpoint(
                    &a,
                    &CreateWebhookEndpoint {
                        url: &url,
                        enabled_events: &["payment_intent.succeeded", "charge.refunded"],
                        connect: i == 1,
                        api_version: Some(API_VERSION),
                        description: Some("client conformance"),
                        metadata: Some(&role),
                    },
                    &key("we"),
                )
                .await
                .unwrap();
            assert!(endpoint
                .secret
                .as_ref()
                .unwrap()
                .expose()
                .starts_with("whsec_"));
            assert_eq!(endpoint.api_version.as_deref(), Some(API_VERSION));
            created.push(endpoint.id);
        }
        // One page at a time, and every page.
        let page = c
            .list_webhook_endpoints(
                &a,
                &ListParams {
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(page.has_more);
        assert_eq!(page.data[0].id, created[2], "newest first");
        let all = c.list_all_webhook_endpoints(&a).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, [&created[2], &created[1], &created[0]]);
        assert!(
            all.iter().all(|e| e.secret.is_none()),
            "the secret only once"
        );
        let updated = c
            .update_webhook_endpoint(
                &a,
                &created[0],
                &UpdateWebhookEndpoint {
                    enabled_events: Some(&["*"]),
                    disabled: Some(true),
                    metadata: Some(&metadata(&[("role", "connect")])),
                    ..Default::default()
                },
                &key("we-update"),
            )
            .await
            .unwrap();
        assert_eq!(updated.enabled_events, ["*"]);
        assert_eq!(updated.status, WebhookEndpointStatus::Disabled);
        assert_eq!(updated.metadata["role"], "connect");
        assert!(updated.secret.is_none());
    })
}

/// All log entries of `method path` carry one Idempotency-Key; returns their statuses.
async fn statuses_with_one_key(sim: &Sim, method: &str, path: &str, key: &str) -> Vec<u64> {
    let calls = sim.calls(method, path).await;
    assert!(
        calls.iter().all(|c| c["idempotency_key"] == key),
        "{calls:#?}"
    );
    calls
        .iter()
        .map(|c| c["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn injected_errors_are_retried_with_one_key_and_create_one_object() {
    let sim = start().await;
    let c = sim.client(Duration::from_secs(10), 2, Duration::from_millis(5));
    let a = account();

    // Two 500s, then the customer: created once.
    sim.fault(json!({"method": "POST", "path": "/v1/customers", "error_rate": 1.0, "times": 2}))
        .await;
    let ext = format!("faulty-{}", uuid::Uuid::new_v4());
    let customer_key = key("customer");
    let customer = c
        .create_customer(
            &a,
            &CreateCustomer {
                metadata: Some(&metadata(&[("external_customer_id", &ext)])),
                ..Default::default()
            },
            &customer_key,
        )
        .await
        .unwrap();
    assert_eq!(
        statuses_with_one_key(&sim, "POST", "/v1/customers", &customer_key).await,
        [500, 500, 200]
    );
    let query = metadata_query("external_customer_id", &ext);
    let found = c
        .search_customers(
            &a,
            &SearchParams {
                query: &query,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id, customer.id);

    // Two 503s on PaymentIntent creation.
    sim.fault(
        json!({"method": "POST", "path": "/v1/payment_intents", "error_rate": 1.0,
        "error_status": 503, "times": 2}),
    )
    .await;
    let tx = format!("tx-{}", uuid::Uuid::new_v4());
    let pi_key = key("pi");
    let pi = c
        .create_payment_intent(
            &a,
            &CreatePaymentIntent {
                payment_method_types: &["card_present"],
                capture_method: Some(CaptureMethod::Manual),
                metadata: Some(&metadata(&[("external_transaction_id", &tx)])),
                ..CreatePaymentIntent::new(1299, "usd")
            },
            &pi_key,
        )
        .await
        .unwrap();
    assert_eq!(
        statuses_with_one_key(&sim, "POST", "/v1/payment_intents", &pi_key).await,
        [503, 503, 200]
    );
    let query = metadata_query("external_transaction_id", &tx);
    let found = c
        .search_payment_intents(
            &a,
            &SearchParams {
                query: &query,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id, pi.id);

    // Two 429s (with Stripe-Should-Retry: true) on capture: captured once.
    let (_, pi) = authorised_intent(&c, &a, Some(&customer.id), 2000).await;
    let capture_path = format!("/v1/payment_intents/{}/capture", pi.id);
    sim.fault(
        json!({"method": "POST", "path": "/v1/payment_intents/*/capture",
        "rate_limit_rate": 1.0, "times": 2}),
    )
    .await;
    let capture_key = key("capture");
    let captured = c
        .capture_payment_intent(&a, &pi.id, &Default::default(), &capture_key)
        .await
        .unwrap();
    assert_eq!(captured.amount_received, 2000);
    assert_eq!(
        statuses_with_one_key(&sim, "POST", &capture_path, &capture_key).await,
        [429, 429, 200]
    );

    // Retries exhausted: the caller's own retry with the same key refunds exactly once.
    sim.fault(json!({"method": "POST", "path": "/v1/refunds", "error_rate": 1.0, "times": 3}))
        .await;
    let refund_key = key("refund");
    let params = CreateRefund {
        payment_intent: Some(&pi.id),
        amount: Some(500),
        ..Default::default()
    };
    let err = c.create_refund(&a, &params, &refund_key).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable());
    let refund = c.create_refund(&a, &params, &refund_key).await.unwrap();
    let again = c.create_refund(&a, &params, &refund_key).await.unwrap();
    assert_eq!(again.id, refund.id);
    assert_eq!(
        statuses_with_one_key(&sim, "POST", "/v1/refunds", &refund_key).await,
        [500, 500, 500, 200, 200]
    );
    let charge = c
        .retrieve_charge(&a, pi.latest_charge.as_ref().unwrap().id(), &[])
        .await
        .unwrap();
    assert_eq!(charge.amount_refunded, 500);

    // GETs are retried too.
    sim.fault(json!({"method": "GET", "path": "/v1/charges/", "error_rate": 1.0, "times": 2}))
        .await;
    c.retrieve_charge(&a, &charge.id, &[]).await.unwrap();
    let charge_path = format!("/v1/charges/{}", charge.id);
    let statuses: Vec<u64> = sim
        .calls("GET", &charge_path)
        .await
        .iter()
        .map(|c| c["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 500, 500, 200]);
}

#[tokio::test]
async fn a_timeout_after_creation_is_healed_by_retrying_with_the_same_key() {
    let sim = start().await;
    let c = sim.client(Duration::from_millis(500), 2, Duration::from_millis(5));
    let a = account();
    sim.fault(
        json!({"method": "POST", "path": "/v1/payment_intents", "hang_ms": 2000, "times": 1}),
    )
    .await;
    let tx = format!("tx-{}", uuid::Uuid::new_v4());
    let tx_metadata = metadata(&[("external_transaction_id", &tx)]);
    let params = CreatePaymentIntent {
        payment_method_types: &["card_present"],
        metadata: Some(&tx_metadata),
        ..CreatePaymentIntent::new(1299, "usd")
    };
    let pi_key = key("pi");
    let err = c
        .create_payment_intent(&a, &params, &pi_key)
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Timeout { .. }), "{err:?}");
    assert!(err.is_outcome_unknown());
    // Not retried by the client: one attempt so far (the simulator logs a request before its
    // hang, and the client returned, so any retry of its would be logged already).
    assert!(sim.calls("POST", "/v1/payment_intents").await.len() <= 1);

    let pi = c.create_payment_intent(&a, &params, &pi_key).await.unwrap();
    let query = metadata_query("external_transaction_id", &tx);
    let found = c
        .search_payment_intents(
            &a,
            &SearchParams {
                query: &query,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id, pi.id);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_wait_out_the_409_and_share_the_result() {
    let sim = start().await;
    let c = sim.client(Duration::from_secs(10), 5, Duration::from_millis(150));
    let a = account();
    sim.fault(json!({"method": "POST", "path": "/v1/customers", "latency_ms": 400, "times": 1}))
        .await;
    let ext = format!("concurrent-{}", uuid::Uuid::new_v4());
    let ext_metadata = metadata(&[("external_customer_id", &ext)]);
    let params = CreateCustomer {
        metadata: Some(&ext_metadata),
        ..Default::default()
    };
    let customer_key = key("customer");
    let first = c.create_customer(&a, &params, &customer_key);
    // Sent together: whichever arrives first holds the key for the 400 ms of its latency fault,
    // and the other meets it in use, waits out the 409s and gets the same customer.
    let second = c.create_customer(&a, &params, &customer_key);
    let (first, second) = tokio::join!(first, second);
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.id, second.id);
    let statuses = statuses_with_one_key(&sim, "POST", "/v1/customers", &customer_key).await;
    assert!(statuses.contains(&409), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2);
    let query = metadata_query("external_customer_id", &ext);
    let found = c
        .search_customers(
            &a,
            &SearchParams {
                query: &query,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
}

#[tokio::test]
async fn the_simulators_signed_webhooks_verify_and_decode() {
    let receiver = MockStripe::start((0..20).map(|_| Reply::json(200, "{}")).collect()).await;
    let sim = sim_with_webhooks(Some(format!("{}/v1/webhooks/stripe", receiver.base()))).await;
    let c = sim.client(Duration::from_secs(10), 0, Duration::from_millis(1));
    let a = account();
    let pi = c
        .create_payment_intent(
            &a,
            &CreatePaymentIntent {
                payment_method_types: &["card_present"],
                ..CreatePaymentIntent::new(1299, "usd")
            },
            &key("pi"),
        )
        .await
        .unwrap();
    let delivered = until_some(5, "a webhook arrives", || {
        let delivered = receiver.requests();
        async move { (!delivered.is_empty()).then_some(delivered) }
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    for hook in &delivered {
        let header = hook.header("stripe-signature").unwrap();
        let body = hook.body.as_bytes();
        let event = webhook::construct_event(
            body,
            header,
            &["whsec_other", WEBHOOK_SECRET],
            webhook::DEFAULT_TOLERANCE,
            now,
        )
        .unwrap();
        assert!(matches!(
            webhook::verify(
                body,
                header,
                &["whsec_other"],
                webhook::DEFAULT_TOLERANCE,
                now
            ),
            Err(webhook::WebhookError::SignatureMismatch)
        ));
        if event.event_type == "payment_intent.created" {
            let object: PaymentIntent = event.object().unwrap();
            assert_eq!(object.id, pi.id);
            assert_eq!(event.object_id(), Some(pi.id.as_str()));
        }
    }
    assert!(delivered
        .iter()
        .any(|hook| hook.body.contains("payment_intent.created")));
}
