//! Conformance with Stripe's API at the pinned version (`conformance/schemas/stripe.json`, generated
//! from stripe-node's declarations): every simulated operation's responses (plain and expanded)
//! validate against the operation's response schema, errors against the error envelope, event
//! payloads against their object's schema; the simulator's parameter and expandable-field tables
//! are derived from the schemas; every parameter key the test client sent is declared.

use crate::spec;
use crate::{id, start, Answer, Sim};
use reqwest::Method;
use serde_json::{json, Value};

/// Collects answers and the operation each one must conform to.
#[derive(Default)]
struct Checks {
    errors: Vec<String>,
    count: usize,
}

impl Checks {
    fn response(&mut self, method: &str, template: &str, answer: Answer) -> Value {
        assert_eq!(answer.status, 200, "{method} {template}: {:#}", answer.body);
        self.count += 1;
        if let Err(errs) = spec::validate_response(method, template, &answer.body) {
            self.errors
                .push(format!("{method} {template}:\n  {}", errs.join("\n  ")));
        }
        answer.body
    }

    fn error(&mut self, what: &str, answer: &Answer) {
        assert!(answer.status >= 400, "{what}: expected an error");
        // Like Stripe's: the request's log entry, and the code's documentation when there is one.
        let error = &answer.body["error"];
        let log = error["request_log_url"].as_str().unwrap_or_default();
        assert!(
            log.starts_with("https://dashboard.stripe.com/test/logs/req_"),
            "{what}: {error}"
        );
        if error["code"].is_string() {
            assert!(error["doc_url"].is_string(), "{what}: {error}");
        }
        self.count += 1;
        if let Err(errs) = spec::validate_component("error", &answer.body) {
            self.errors
                .push(format!("{what} (error):\n  {}", errs.join("\n  ")));
        }
    }

    fn component(&mut self, what: &str, name: &str, value: &Value) {
        self.count += 1;
        if let Err(errs) = spec::validate_component(name, value) {
            self.errors
                .push(format!("{what} as {name}:\n  {}", errs.join("\n  ")));
        }
    }
}

#[test]
fn params_table_matches_the_spec() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/stripe-sim/src/params.json"
    );
    let table: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut regenerated = serde_json::Map::new();
    for key in table.as_object().unwrap().keys() {
        let (method, template) = key.split_once(' ').unwrap();
        regenerated.insert(key.clone(), spec::operation_declaration(method, template));
    }
    let regenerated = Value::Object(regenerated);
    if std::env::var_os("SIM_REGENERATE_PARAMS").is_some() {
        std::fs::write(path, serde_json::to_string(&regenerated).unwrap() + "\n").unwrap();
        return;
    }
    for (key, declared) in table.as_object().unwrap() {
        assert_eq!(
            declared, &regenerated[key],
            "{key} differs from the spec; rerun with SIM_REGENERATE_PARAMS=1"
        );
    }
}

#[test]
fn expandable_table_matches_the_spec() {
    // The simulator keeps, per object, the top-level fields `expand[]` may name or descend into:
    // the first segment of every expandable path the schemas list.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/stripe-sim/src/expandable.json"
    );
    let table: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut regenerated = serde_json::Map::new();
    for (kind, paths) in spec::spec()["expandable"].as_object().unwrap() {
        let mut fields: Vec<&str> = paths
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().split('.').next().unwrap())
            .collect();
        fields.dedup();
        regenerated.insert(kind.clone(), json!(fields));
    }
    let regenerated = Value::Object(regenerated);
    if std::env::var_os("SIM_REGENERATE_PARAMS").is_some() {
        std::fs::write(path, serde_json::to_string(&regenerated).unwrap() + "\n").unwrap();
        return;
    }
    assert_eq!(
        table, regenerated,
        "crates/stripe-sim/src/expandable.json differs from the schemas; rerun with SIM_REGENERATE_PARAMS=1"
    );
}

#[test]
fn schemas_are_the_pinned_version() {
    assert_eq!(spec::api_version(), pos_backend::stripe::API_VERSION);
    assert_eq!(spec::api_version(), pos_backend::sim::API_VERSION);
}

/// The checker itself: a valid object passes, and each kind of deviation fails with its path.
#[test]
fn checker_rejects_deviations() {
    let valid = json!({
        "id": "tml_1", "object": "terminal.location", "address": {
            "city": null, "country": "US", "line1": "1 Main", "line2": null,
            "postal_code": null, "state": null
        },
        "display_name": "Shop", "livemode": false, "metadata": {}
    });
    let result = spec::validate_component("terminal.location", &valid);
    assert!(result.is_ok(), "{result:?}");
    let fails = |change: &dyn Fn(&mut Value), expected: &str| {
        let mut wrong = valid.clone();
        change(&mut wrong);
        let errors = spec::validate_component("terminal.location", &wrong)
            .expect_err("a deviation must fail the check");
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected} not in {errors:?}"
        );
    };
    fails(&|v| v["nickname"] = json!("x"), "$.nickname: unknown field");
    fails(
        &|v| v["object"] = json!("location"),
        "$.object: \"location\" is not one of",
    );
    fails(
        &|v| v["display_name"] = Value::Null,
        "$.display_name: expected string, got null",
    );
    fails(
        &|v| {
            v.as_object_mut().unwrap().remove("livemode");
        },
        "missing required livemode",
    );
    fails(
        &|v| v["metadata"]["k"] = json!(1),
        "$.metadata.k: expected string",
    );
    fails(&|v| v["address"]["country"] = json!(1), "$.address.country");
    let bad =
        json!({"id": "cus_1", "object": "customer", "created": "yesterday", "livemode": false});
    assert!(spec::validate_component("customer", &bad).is_err());
    // A wrong enum value deep in a PaymentIntent, and an unknown field in an expanded object.
    let response = "/v1/payment_intents/{intent}";
    let mut intent = json!({"object": "payment_intent", "status": "authorized"});
    let errors = spec::validate_response("GET", response, &intent).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("$.status: \"authorized\" is not one of")),
        "{errors:?}"
    );
    intent["status"] = json!("succeeded");
    intent["latest_charge"] = json!({"object": "charge", "surprise": true});
    let errors = spec::validate_response("GET", response, &intent).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("$.latest_charge.surprise: unknown field")),
        "{errors:?}"
    );
    // The error envelope.
    assert!(spec::validate_component(
        "error",
        &json!({"error": {"type": "card_error", "message": "x"}})
    )
    .is_ok());
    assert!(spec::validate_component("error", &json!({"error": {"type": "oops"}})).is_err());
}

#[test]
fn param_key_checker() {
    let pi = "/v1/payment_intents";
    assert!(spec::check_param_key("POST", pi, "metadata[external_customer_id]").is_ok());
    assert!(spec::check_param_key("POST", pi, "allowed_payment_method_types[0]").is_ok());
    assert!(spec::check_param_key("POST", pi, "allowed_payment_method_types[]").is_ok());
    assert!(spec::check_param_key("POST", pi, "expand[]").is_ok());
    assert!(spec::check_param_key(
        "POST",
        pi,
        "payment_method_options[card_present][request_incremental_authorization_support]"
    )
    .is_ok());
    assert!(spec::check_param_key("POST", pi, "amout").is_err());
    assert!(spec::check_param_key("POST", pi, "expand").is_err());
    assert!(
        spec::check_param_key("POST", pi, "payment_method_options[card_present][nope]").is_err()
    );
    assert!(spec::check_param_key("GET", "/v1/events", "created[gte]").is_ok());
    assert!(spec::declared_params("GET", "/v1/customers/search").contains(&"query".to_string()));
    assert_eq!(
        spec::match_path("GET", "/v1/customers/search").as_deref(),
        Some("/v1/customers/search")
    );
    assert_eq!(
        spec::match_path("POST", "/v1/payment_intents/pi_1/capture").as_deref(),
        Some("/v1/payment_intents/{intent}/capture")
    );
}

async fn card_present_payment(
    sim: &Sim,
    c: &mut Checks,
    customer: &str,
    card: &str,
) -> (String, String) {
    let pi = c.response(
        "POST",
        "/v1/payment_intents",
        sim.post(
            "/v1/payment_intents",
            &[
                ("amount", "1299"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                ("capture_method", "manual"),
                ("customer", customer),
                ("setup_future_usage", "off_session"),
                ("metadata[external_transaction_id]", "t-1"),
            ],
        )
        .await,
    );
    let reader = c.response(
        "POST",
        "/v1/terminal/readers",
        sim.post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe")],
        )
        .await,
    );
    let rid = id(&reader).to_string();
    c.response(
        "POST",
        "/v1/terminal/readers/{reader}/process_payment_intent",
        sim.post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &[
                ("payment_intent", id(&pi)),
                ("process_config[allow_redisplay]", "always"),
                ("expand[]", "action.process_payment_intent.payment_intent"),
            ],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
        sim.post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[("card_present[number]", card)],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/terminal/readers/{reader}",
        sim.get(&format!("/v1/terminal/readers/{rid}"), &[]).await,
    );
    (id(&pi).to_string(), rid)
}

#[tokio::test]
async fn every_operation_conforms() {
    let sim = start().await;
    let mut c = Checks::default();
    // Customers.
    let customer = c.response(
        "POST",
        "/v1/customers",
        sim.post(
            "/v1/customers",
            &[
                ("email", "a@example.com"),
                ("name", "A"),
                ("metadata[external_customer_id]", "x1"),
            ],
        )
        .await,
    );
    let cid = id(&customer).to_string();
    c.response(
        "GET",
        "/v1/customers/{customer}",
        sim.get(&format!("/v1/customers/{cid}"), &[]).await,
    );
    c.response(
        "POST",
        "/v1/customers/{customer}",
        sim.post(
            &format!("/v1/customers/{cid}"),
            &[("phone", "+15555550100"), ("address[country]", "US")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/customers/search",
        sim.get(
            "/v1/customers/search",
            &[("query", "metadata['external_customer_id']:'x1'")],
        )
        .await,
    );
    // Terminal objects.
    let loc = c.response(
        "POST",
        "/v1/terminal/locations",
        sim.post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Shop"),
                ("address[line1]", "1 Main"),
                ("address[country]", "US"),
            ],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/terminal/locations",
        sim.get("/v1/terminal/locations", &[]).await,
    );
    c.response(
        "GET",
        "/v1/terminal/locations/{location}",
        sim.get(&format!("/v1/terminal/locations/{}", id(&loc)), &[])
            .await,
    );
    c.response(
        "POST",
        "/v1/terminal/connection_tokens",
        sim.post("/v1/terminal/connection_tokens", &[("location", id(&loc))])
            .await,
    );
    c.response(
        "POST",
        "/v1/terminal/connection_tokens",
        sim.post("/v1/terminal/connection_tokens", &[]).await,
    );
    // A card-present payment with a saved card, and its reader.
    let (pid, rid) = card_present_payment(&sim, &mut c, &cid, "4242424242424242").await;
    c.response(
        "GET",
        "/v1/terminal/readers",
        sim.get("/v1/terminal/readers", &[("expand[]", "data.location")])
            .await,
    );
    for expand in [
        vec![],
        vec!["latest_charge"],
        vec![
            "latest_charge.payment_method_details",
            "customer",
            "payment_method",
        ],
        vec!["latest_charge.payment_intent", "latest_charge.customer"],
    ] {
        let query: Vec<(&str, &str)> = expand.iter().map(|e| ("expand[]", *e)).collect();
        c.response(
            "GET",
            "/v1/payment_intents/{intent}",
            sim.get(&format!("/v1/payment_intents/{pid}"), &query).await,
        );
    }
    let authorized = sim
        .get(&format!("/v1/payment_intents/{pid}"), &[])
        .await
        .ok();
    let charge_id = authorized["latest_charge"].as_str().unwrap().to_string();
    let charge = c.response(
        "GET",
        "/v1/charges/{charge}",
        sim.get(&format!("/v1/charges/{charge_id}"), &[]).await,
    );
    let generated = charge["payment_method_details"]["card_present"]["generated_card"]
        .as_str()
        .expect("generated card")
        .to_string();
    let saved = c.response(
        "GET",
        "/v1/payment_methods/{payment_method}",
        sim.get(
            &format!("/v1/payment_methods/{generated}"),
            &[("expand[]", "customer")],
        )
        .await,
    );
    // The consent given at the reader (`process_config[allow_redisplay]`) is the saved card's.
    assert_eq!(saved["allow_redisplay"], "always", "{saved:#}");
    c.response(
        "GET",
        "/v1/payment_methods/{payment_method}",
        sim.get(
            &format!(
                "/v1/payment_methods/{}",
                charge["payment_method"].as_str().unwrap()
            ),
            &[],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/payment_intents/{intent}/capture",
        sim.post(
            &format!("/v1/payment_intents/{pid}/capture"),
            &[("amount_to_capture", "1000"), ("expand[]", "latest_charge")],
        )
        .await,
    );
    let refund = c.response(
        "POST",
        "/v1/refunds",
        sim.post(
            "/v1/refunds",
            &[
                ("payment_intent", &pid),
                ("amount", "300"),
                ("metadata[r]", "1"),
            ],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/refunds/{refund}",
        sim.get(
            &format!("/v1/refunds/{}", id(&refund)),
            &[("expand[]", "charge")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/charges/{charge}",
        sim.get(
            &format!("/v1/charges/{charge_id}"),
            &[("expand[]", "payment_intent")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/customers/{customer}/payment_methods",
        sim.get(
            &format!("/v1/customers/{cid}/payment_methods"),
            &[("type", "card")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/payment_methods",
        sim.get(
            "/v1/payment_methods",
            &[("customer", &cid), ("type", "card")],
        )
        .await,
    );
    // Off-session charge of the saved card; a declined one; the error envelope.
    c.response(
        "POST",
        "/v1/payment_intents",
        sim.post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("customer", &cid),
                ("payment_method", &generated),
                ("off_session", "true"),
                ("confirm", "true"),
                ("expand[]", "latest_charge"),
            ],
        )
        .await,
    );
    let declined = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    c.error("declined confirm", &declined);
    c.component(
        "declined intent",
        "payment_intent",
        &declined.body["error"]["payment_intent"],
    );
    c.error(
        "unknown parameter",
        &sim.post("/v1/customers", &[("nope", "1")]).await,
    );
    c.error(
        "missing",
        &sim.get("/v1/payment_intents/pi_missing", &[]).await,
    );
    // Declined at the reader: failed charge and action.
    let (failed_pi, failed_reader) =
        card_present_payment(&sim, &mut c, &cid, "4000000000009995").await;
    c.response(
        "GET",
        "/v1/payment_intents/{intent}",
        sim.get(
            &format!("/v1/payment_intents/{failed_pi}"),
            &[("expand[]", "latest_charge")],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/terminal/readers/{reader}/process_payment_intent",
        sim.post(
            &format!("/v1/terminal/readers/{failed_reader}/process_payment_intent"),
            &[
                ("payment_intent", &failed_pi),
                ("process_config[skip_tipping]", "true"),
                ("process_config[allow_redisplay]", "limited"),
            ],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/terminal/readers/{reader}/cancel_action",
        sim.post(
            &format!("/v1/terminal/readers/{failed_reader}/cancel_action"),
            &[],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/payment_intents/{intent}/cancel",
        sim.post(
            &format!("/v1/payment_intents/{failed_pi}/cancel"),
            &[("cancellation_reason", "abandoned")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/terminal/readers/{reader}",
        sim.get(
            &format!("/v1/terminal/readers/{rid}"),
            &[("expand[]", "action.process_payment_intent.payment_intent")],
        )
        .await,
    );
    // Intent update / confirm / increment / search / list.
    let open = c.response(
        "POST",
        "/v1/payment_intents",
        sim.post(
            "/v1/payment_intents",
            &[
                ("amount", "800"),
                ("currency", "usd"),
                ("allowed_payment_method_types[0]", "card_present"),
                ("capture_method", "manual"),
                ("payment_method_options[card_present][request_incremental_authorization_support]", "true"),
            ],
        )
        .await,
    );
    let oid = id(&open).to_string();
    c.response(
        "POST",
        "/v1/payment_intents/{intent}",
        sim.post(
            &format!("/v1/payment_intents/{oid}"),
            &[("amount", "900"), ("description", "d")],
        )
        .await,
    );
    card_present_after(&sim, &mut c, &oid).await;
    c.response(
        "POST",
        "/v1/payment_intents/{intent}/increment_authorization",
        sim.post(
            &format!("/v1/payment_intents/{oid}/increment_authorization"),
            &[("amount", "1200")],
        )
        .await,
    );
    let online = c.response(
        "POST",
        "/v1/payment_intents",
        sim.post(
            "/v1/payment_intents",
            &[
                ("amount", "700"),
                ("currency", "eur"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/payment_intents/{intent}/confirm",
        sim.post(
            &format!("/v1/payment_intents/{}/confirm", id(&online)),
            &[("expand[]", "latest_charge")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/payment_intents/search",
        sim.get(
            "/v1/payment_intents/search",
            &[("query", "metadata['external_transaction_id']:'t-1'")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/payment_intents",
        sim.get(
            "/v1/payment_intents",
            &[("customer", &cid), ("expand[]", "data.latest_charge")],
        )
        .await,
    );
    // Payment methods attach / detach.
    let attached = c.response(
        "POST",
        "/v1/payment_methods/{payment_method}/attach",
        sim.post(
            "/v1/payment_methods/pm_card_mastercard/attach",
            &[("customer", &cid)],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/payment_methods/{payment_method}/detach",
        sim.post(
            &format!("/v1/payment_methods/{}/detach", id(&attached)),
            &[],
        )
        .await,
    );
    // Setup intents.
    let si = c.response(
        "POST",
        "/v1/setup_intents",
        sim.post(
            "/v1/setup_intents",
            &[("customer", &cid), ("metadata[k]", "v")],
        )
        .await,
    );
    c.response(
        "POST",
        "/v1/setup_intents/{intent}/confirm",
        sim.post(
            &format!("/v1/setup_intents/{}/confirm", id(&si)),
            &[("payment_method", "pm_card_visa")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/setup_intents/{intent}",
        sim.get(
            &format!("/v1/setup_intents/{}", id(&si)),
            &[("expand[]", "payment_method"), ("expand[]", "customer")],
        )
        .await,
    );
    // Checkout in both modes.
    let setup = c.response(
        "POST",
        "/v1/checkout/sessions",
        sim.post(
            "/v1/checkout/sessions",
            &[
                ("mode", "setup"),
                ("customer", &cid),
                ("currency", "usd"),
                ("success_url", "https://x/ok"),
            ],
        )
        .await,
    );
    sim.sim(
        Method::POST,
        &format!("/_sim/checkout/{}/complete", id(&setup)),
        Some(json!({})),
    )
    .await
    .ok();
    c.response(
        "GET",
        "/v1/checkout/sessions/{session}",
        sim.get(
            &format!("/v1/checkout/sessions/{}", id(&setup)),
            &[("expand[]", "setup_intent")],
        )
        .await,
    );
    let pay = c.response(
        "POST",
        "/v1/checkout/sessions",
        sim.post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("success_url", "https://x/ok"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "999"),
                ("line_items[0][price_data][product_data][name]", "Thing"),
                ("line_items[0][quantity]", "1"),
            ],
        )
        .await,
    );
    let completed = sim
        .sim(
            Method::POST,
            &format!("/_sim/checkout/{}/complete", id(&pay)),
            Some(json!({})),
        )
        .await
        .ok();
    c.response(
        "GET",
        "/v1/checkout/sessions/{session}",
        sim.get(
            &format!("/v1/checkout/sessions/{}", id(&pay)),
            &[("expand[]", "payment_intent")],
        )
        .await,
    );
    c.response(
        "GET",
        "/v1/checkout/sessions",
        sim.get(
            "/v1/checkout/sessions",
            &[(
                "payment_intent",
                completed["payment_intent"].as_str().unwrap(),
            )],
        )
        .await,
    );
    let third = sim
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "setup"),
                ("currency", "usd"),
                ("success_url", "https://x/ok"),
            ],
        )
        .await
        .ok();
    c.response(
        "POST",
        "/v1/checkout/sessions/{session}/expire",
        sim.post(&format!("/v1/checkout/sessions/{}/expire", id(&third)), &[])
            .await,
    );
    // Events, and every event's object against its own schema.
    let events = c.response(
        "GET",
        "/v1/events",
        sim.get("/v1/events", &[("limit", "100")]).await,
    );
    let events = events["data"].as_array().unwrap().clone();
    assert!(events.len() > 30);
    c.response(
        "GET",
        "/v1/events/{id}",
        sim.get(&format!("/v1/events/{}", id(&events[0])), &[])
            .await,
    );
    for event in &events {
        assert_eq!(event["api_version"], spec::api_version(), "{event:#}");
        let object = &event["data"]["object"];
        let schema = object["object"].as_str().unwrap().to_string();
        c.component(event["type"].as_str().unwrap(), &schema, object);
        c.component(event["type"].as_str().unwrap(), "event", event);
    }
    assert!(
        c.errors.is_empty(),
        "{} of {} checks failed:\n{}",
        c.errors.len(),
        c.count,
        c.errors.join("\n")
    );
    // Every parameter the client sent is one the spec declares.
    let log = sim.requests().await;
    let mut undeclared = Vec::new();
    for entry in &log {
        if entry["status"] == 400 || entry["status"] == 404 {
            continue;
        }
        let method = entry["method"].as_str().unwrap();
        let template = spec::match_path(method, entry["path"].as_str().unwrap()).unwrap();
        for key in entry["params"].as_array().unwrap() {
            if let Err(e) = spec::check_param_key(method, &template, key.as_str().unwrap()) {
                undeclared.push(e);
            }
        }
    }
    assert!(undeclared.is_empty(), "{undeclared:#?}");
}

/// Presents a card for an existing intent on a fresh reader.
async fn card_present_after(sim: &Sim, c: &mut Checks, pi: &str) {
    let reader = sim.reader().await;
    let rid = id(&reader);
    sim.post(
        &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
        &[("payment_intent", pi)],
    )
    .await
    .ok();
    c.response(
        "POST",
        "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
        sim.post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[],
        )
        .await,
    );
}

/// Includable fields (lists Stripe omits unless `expand[]` names them): absent by default,
/// rendered as a list object of the object's own items when expanded, conforming to the schema;
/// the spec's `includable` table is what the simulator's expandable table accepts.
#[tokio::test]
async fn includable_lists_render_when_expanded() {
    let sim = start().await;
    let mut c = Checks::default();
    for (kind, fields) in spec::spec()["includable"].as_object().unwrap() {
        for field in fields.as_array().unwrap() {
            let field = field.as_str().unwrap();
            assert!(
                spec::spec()["expandable"][kind]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == field),
                "{kind}.{field} is includable but not expandable"
            );
        }
    }
    let includable = |kind: &str| spec::spec()["includable"][kind].clone();
    assert_eq!(includable("charge"), json!(["refunds"]));
    assert_eq!(includable("checkout.session"), json!(["line_items"]));

    // A charge's refunds, newest first; another charge's refund is not among them.
    let mut charges = Vec::new();
    for _ in 0..2 {
        let pi = sim.intent(&[("capture_method", "automatic")]).await;
        let (_, paid) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
        charges.push(id(&paid["latest_charge"]).to_string());
        for amount in ["100", "200"] {
            sim.post(
                "/v1/refunds",
                &[("payment_intent", id(&pi)), ("amount", amount)],
            )
            .await
            .ok();
        }
    }
    let plain = c.response(
        "GET",
        "/v1/charges/{charge}",
        sim.get(&format!("/v1/charges/{}", charges[0]), &[]).await,
    );
    assert!(plain.get("refunds").is_none(), "{plain:#}");
    let charge = c.response(
        "GET",
        "/v1/charges/{charge}",
        sim.get(
            &format!("/v1/charges/{}", charges[0]),
            &[("expand[]", "refunds")],
        )
        .await,
    );
    let refunds = &charge["refunds"];
    assert_eq!(refunds["object"], "list");
    assert_eq!(refunds["has_more"], false);
    assert_eq!(
        refunds["url"],
        format!("/v1/charges/{}/refunds", charges[0])
    );
    let amounts: Vec<&Value> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["amount"])
        .collect();
    assert_eq!(amounts, [&json!(200), &json!(100)]);
    assert!(refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["object"] == "refund" && r["charge"] == charges[0].as_str()));
    // Through a list and through another object's expansion too.
    let pi = charge["payment_intent"].as_str().unwrap();
    let via_intent = c.response(
        "GET",
        "/v1/payment_intents/{intent}",
        sim.get(
            &format!("/v1/payment_intents/{pi}"),
            &[("expand[]", "latest_charge.refunds")],
        )
        .await,
    );
    assert_eq!(via_intent["latest_charge"]["refunds"], *refunds);

    // A session's line items, as Stripe renders them.
    let session = c.response(
        "POST",
        "/v1/checkout/sessions",
        sim.post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("success_url", "https://x/ok"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1250"),
                ("line_items[0][price_data][product_data][name]", "Coffee"),
                ("line_items[0][quantity]", "2"),
                ("line_items[1][price_data][currency]", "usd"),
                ("line_items[1][price_data][unit_amount]", "300"),
                ("line_items[1][price_data][product_data][name]", "Cookie"),
            ],
        )
        .await,
    );
    assert!(session.get("line_items").is_none(), "{session:#}");
    let sid = id(&session);
    let expanded = c.response(
        "GET",
        "/v1/checkout/sessions/{session}",
        sim.get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[("expand[]", "line_items")],
        )
        .await,
    );
    let items = &expanded["line_items"];
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], false);
    assert_eq!(
        items["url"],
        format!("/v1/checkout/sessions/{sid}/line_items")
    );
    let data = items["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (item, (name, unit, quantity)) in data.iter().zip([("Coffee", 1250, 2), ("Cookie", 300, 1)])
    {
        assert_eq!(item["object"], "item");
        assert!(item["id"].as_str().unwrap().starts_with("li_"), "{item:#}");
        assert_eq!(item["description"], name);
        assert_eq!(item["currency"], "usd");
        assert_eq!(item["quantity"], quantity);
        assert_eq!(item["amount_subtotal"], unit * quantity);
        assert_eq!(item["amount_total"], unit * quantity);
        assert_eq!(item["price"]["object"], "price");
        assert_eq!(item["price"]["unit_amount"], unit);
        assert_eq!(item["price"]["unit_amount_decimal"], unit.to_string());
    }
    let total: i64 = data
        .iter()
        .map(|i| i["amount_total"].as_i64().unwrap())
        .sum();
    assert_eq!(expanded["amount_total"], total);
    let listed = c.response(
        "GET",
        "/v1/checkout/sessions",
        sim.get(
            "/v1/checkout/sessions",
            &[("expand[]", "data.line_items"), ("limit", "1")],
        )
        .await,
    );
    assert_eq!(listed["data"][0]["line_items"], *items);

    // A customer's sources, subscriptions and tax IDs: the simulator has none.
    let customer = sim.customer("inc-1").await;
    let cid = id(&customer);
    let lists = c.response(
        "GET",
        "/v1/customers/{customer}",
        sim.get(
            &format!("/v1/customers/{cid}"),
            &[
                ("expand[]", "sources"),
                ("expand[]", "subscriptions"),
                ("expand[]", "tax_ids"),
            ],
        )
        .await,
    );
    for field in ["sources", "subscriptions", "tax_ids"] {
        assert_eq!(
            lists[field],
            json!({"object": "list", "data": [], "has_more": false, "url": format!("/v1/customers/{cid}/{field}")})
        );
    }

    // Unknown or not includable: still a 400 naming `expand`.
    for (path, field) in [
        (format!("/v1/checkout/sessions/{sid}"), "line_itemz"),
        (format!("/v1/charges/{}", charges[0]), "refundz"),
        (
            format!("/v1/charges/{}", charges[0]),
            "refunds.data.charge.nope",
        ),
        (format!("/v1/payment_intents/{pi}"), "line_items"),
    ] {
        let refused = sim.get(&path, &[("expand[]", field)]).await;
        assert_eq!(
            refused.status, 400,
            "{path} expand[]={field}: {}",
            refused.body
        );
        assert_eq!(refused.body["error"]["param"], "expand");
        c.error(&format!("expand[]={field}"), &refused);
    }
    // Includable, but the simulator does not record a PaymentIntent's amount_details line
    // items: refused rather than rendered empty.
    let refused = sim
        .get(
            &format!("/v1/payment_intents/{pi}"),
            &[("expand[]", "amount_details.line_items")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.body["error"]["param"], "expand");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("amount_details line items"));
    assert!(c.errors.is_empty(), "{}", c.errors.join("\n"));
}
