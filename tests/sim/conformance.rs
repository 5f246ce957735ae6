//! Conformance with Stripe's API at the pinned version (`conformance/schemas/stripe.json`, generated
//! from stripe-node's declarations): every simulated operation's responses (plain and expanded)
//! validate against the operation's response schema, errors against the error envelope, event
//! payloads against their object's schema; the simulator's parameter and expandable-field tables
//! are derived from the schemas; every parameter key the test client sent is declared.

use crate::spec;
use crate::{id, start, Answer, Sim};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

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
    assert_eq!(spec::api_version(), stripe_client::API_VERSION);
    assert_eq!(spec::api_version(), stripe_sim::API_VERSION);
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

/// One request of `every_operation_conforms`. `{name}` in the path and the parameters stands for
/// a value an earlier step saved.
struct Step {
    kind: Kind,
    method: &'static str,
    path: String,
    params: Vec<(String, String)>,
    /// Values of the answer kept for later steps: (name, JSON pointer).
    save: Vec<(&'static str, &'static str)>,
    /// Values the answer must have: (JSON pointer, value).
    expect: Vec<(&'static str, Value)>,
}

enum Kind {
    /// A 200, valid against the response schema of the operation `template`.
    Response { template: &'static str },
    /// An error, valid against the error envelope; `component` also checks a part of it against
    /// an object's schema (JSON pointer, schema name).
    Error {
        what: &'static str,
        component: Option<(&'static str, &'static str)>,
    },
    /// A JSON call to a `/_sim` control endpoint (it must answer 200); nothing to conform to.
    Control,
}

fn step(kind: Kind, method: &'static str, path: &str, params: &[(&str, &str)]) -> Step {
    Step {
        kind,
        method,
        path: path.to_string(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        save: Vec::new(),
        expect: Vec::new(),
    }
}

/// A POST to `path` whose 200 must conform to `template`'s response schema.
fn post_at(template: &'static str, path: &str, params: &[(&str, &str)]) -> Step {
    step(Kind::Response { template }, "POST", path, params)
}

/// A POST to `template` itself (its `{…}` filled with the values saved under those names).
fn post(template: &'static str, params: &[(&str, &str)]) -> Step {
    post_at(template, template, params)
}

/// A GET of `path` whose 200 must conform to `template`'s response schema.
fn get_at(template: &'static str, path: &str, query: &[(&str, &str)]) -> Step {
    step(Kind::Response { template }, "GET", path, query)
}

/// A GET of `template` itself (its `{…}` filled with the values saved under those names).
fn get(template: &'static str, query: &[(&str, &str)]) -> Step {
    get_at(template, template, query)
}

/// A DELETE of `template` itself whose 200 must conform to its response schema.
fn delete(template: &'static str) -> Step {
    step(Kind::Response { template }, "DELETE", template, &[])
}

/// A request that must fail with a conforming error envelope.
fn error(what: &'static str, method: &'static str, path: &str, params: &[(&str, &str)]) -> Step {
    let kind = Kind::Error {
        what,
        component: None,
    };
    step(kind, method, path, params)
}

/// `POST /_sim/…` with an empty JSON body.
fn control(path: &str) -> Step {
    control_with(path, &[])
}

/// `POST /_sim/…` with these string fields as its JSON body.
fn control_with(path: &str, fields: &[(&str, &str)]) -> Step {
    step(Kind::Control, "POST", path, fields)
}

impl Step {
    fn save(mut self, name: &'static str, pointer: &'static str) -> Step {
        self.save.push((name, pointer));
        self
    }

    fn expect(mut self, pointer: &'static str, value: Value) -> Step {
        self.expect.push((pointer, value));
        self
    }

    fn component(mut self, pointer: &'static str, schema: &'static str) -> Step {
        if let Kind::Error { component, .. } = &mut self.kind {
            *component = Some((pointer, schema));
        }
        self
    }

    /// Sends it with the saved values filled in, checks the answer into `c`, saves its values.
    async fn run(&self, sim: &Sim, c: &mut Checks, saved: &mut BTreeMap<&'static str, String>) {
        let fill = |text: &str| {
            saved.iter().fold(text.to_string(), |t, (name, value)| {
                t.replace(&format!("{{{name}}}"), value)
            })
        };
        let path = fill(&self.path);
        let filled: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), fill(v)))
            .collect();
        let params: Vec<(&str, &str)> = filled
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let send = || async {
            match self.method {
                "POST" => sim.post(&path, &params).await,
                "DELETE" => sim.delete(&path).await,
                _ => sim.get(&path, &params).await,
            }
        };
        let body = match &self.kind {
            Kind::Response { template } => c.response(self.method, template, send().await),
            Kind::Error { what, component } => {
                let answer = send().await;
                c.error(what, &answer);
                if let Some((pointer, schema)) = component {
                    c.component(
                        what,
                        schema,
                        &answer.body.pointer(pointer).cloned().unwrap_or_default(),
                    );
                }
                answer.body
            }
            Kind::Control => {
                let body: serde_json::Map<String, Value> =
                    filled.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                sim.sim(Method::POST, &path, Some(Value::Object(body)))
                    .await
                    .ok()
            }
        };
        for (pointer, value) in &self.expect {
            assert_eq!(
                body.pointer(pointer),
                Some(value),
                "{} {path}: {pointer} in {body:#}",
                self.method
            );
        }
        for (name, pointer) in &self.save {
            let value = body.pointer(pointer).and_then(Value::as_str);
            let value =
                value.unwrap_or_else(|| panic!("{} {path}: no {pointer} in {body:#}", self.method));
            saved.insert(name, value.to_string());
        }
    }
}

/// A card-present payment of `{customer}` with `card` on a new reader, saving the card: the
/// intent saved as `pi`, the reader as `reader`.
fn card_present_payment(card: &str, pi: &'static str, reader: &'static str) -> Vec<Step> {
    let (intent, at) = (format!("{{{pi}}}"), format!("{{{reader}}}"));
    vec![
        post(
            "/v1/payment_intents",
            &[
                ("amount", "1299"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                ("capture_method", "manual"),
                ("customer", "{customer}"),
                ("setup_future_usage", "off_session"),
                ("metadata[external_transaction_id]", "t-1"),
            ],
        )
        .save(pi, "/id"),
        post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe")],
        )
        .save(reader, "/id"),
        post_at(
            "/v1/terminal/readers/{reader}/process_payment_intent",
            &format!("/v1/terminal/readers/{at}/process_payment_intent"),
            &[
                ("payment_intent", &intent),
                ("process_config[allow_redisplay]", "always"),
                ("expand[]", "action.process_payment_intent.payment_intent"),
            ],
        ),
        post_at(
            "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
            &format!("/v1/test_helpers/terminal/readers/{at}/present_payment_method"),
            &[("card_present[number]", card)],
        ),
        get_at(
            "/v1/terminal/readers/{reader}",
            &format!("/v1/terminal/readers/{at}"),
            &[],
        ),
    ]
}

/// A payment collected, inspected and confirmed in two reader actions (`collect_payment_method`,
/// then `confirm_payment_intent`).
fn collected_payment(pi: &'static str, reader: &'static str) -> Vec<Step> {
    let (intent, at) = (format!("{{{pi}}}"), format!("{{{reader}}}"));
    vec![
        post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                ("capture_method", "manual"),
            ],
        )
        .save(pi, "/id"),
        post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe")],
        )
        .save(reader, "/id"),
        post_at(
            "/v1/terminal/readers/{reader}/collect_payment_method",
            &format!("/v1/terminal/readers/{at}/collect_payment_method"),
            &[
                ("payment_intent", &intent),
                ("collect_config[skip_tipping]", "true"),
            ],
        ),
        post_at(
            "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
            &format!("/v1/test_helpers/terminal/readers/{at}/present_payment_method"),
            &[("card_present[number]", "4111111111111111")],
        ),
        get_at(
            "/v1/terminal/readers/{reader}",
            &format!("/v1/terminal/readers/{at}"),
            &[],
        ),
        post_at(
            "/v1/terminal/readers/{reader}/confirm_payment_intent",
            &format!("/v1/terminal/readers/{at}/confirm_payment_intent"),
            &[("payment_intent", &intent)],
        ),
    ]
}

/// Every simulated operation, in an order where each finds what it needs.
fn operations() -> Vec<Step> {
    let mut steps = vec![
        // Customers.
        post(
            "/v1/customers",
            &[
                ("email", "a@example.com"),
                ("name", "A"),
                ("metadata[external_customer_id]", "x1"),
            ],
        )
        .save("customer", "/id"),
        get("/v1/customers/{customer}", &[]),
        post(
            "/v1/customers/{customer}",
            &[("phone", "+15555550100"), ("address[country]", "US")],
        ),
        get(
            "/v1/customers/search",
            &[("query", "metadata['external_customer_id']:'x1'")],
        ),
        // Terminal objects.
        post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Shop"),
                ("address[line1]", "1 Main"),
                ("address[country]", "US"),
            ],
        )
        .save("location", "/id"),
        get("/v1/terminal/locations", &[]),
        get("/v1/terminal/locations/{location}", &[]),
        post(
            "/v1/terminal/connection_tokens",
            &[("location", "{location}")],
        ),
        post("/v1/terminal/connection_tokens", &[]),
        // Terminal configurations (tipping) and a location using one.
        post(
            "/v1/terminal/configurations",
            &[
                ("name", "Bar"),
                ("tipping[usd][percentages][]", "15"),
                ("tipping[usd][fixed_amounts][]", "100"),
                ("tipping[usd][smart_tip_threshold]", "1000"),
            ],
        )
        .save("configuration", "/id"),
        get("/v1/terminal/configurations", &[]),
        get("/v1/terminal/configurations/{configuration}", &[]),
        post(
            "/v1/terminal/configurations/{configuration}",
            &[("name", "Terrace"), ("tipping[eur][percentages][]", "10")],
        ),
        post(
            "/v1/terminal/locations/{location}",
            &[
                ("configuration_overrides", "{configuration}"),
                ("display_name", "Shop 2"),
                ("metadata[floor]", "1"),
            ],
        ),
    ];
    // A card-present payment with a saved card, and its reader.
    steps.extend(card_present_payment("4242424242424242", "pi", "reader"));
    steps.extend(collected_payment("collected_pi", "collecting_reader"));
    // The cart on that reader, and clearing it.
    steps.push(post(
        "/v1/terminal/readers/{reader}/set_reader_display",
        &[
            ("type", "cart"),
            ("cart[currency]", "usd"),
            ("cart[line_items][0][description]", "Coffee"),
            ("cart[line_items][0][amount]", "450"),
            ("cart[line_items][0][quantity]", "2"),
            ("cart[tax]", "90"),
            ("cart[total]", "990"),
        ],
    ));
    steps.push(post("/v1/terminal/readers/{reader}/cancel_action", &[]));
    steps.push(delete("/v1/terminal/configurations/{configuration}"));
    steps.push(get(
        "/v1/terminal/readers",
        &[("expand[]", "data.location")],
    ));
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
        steps.push(get_at(
            "/v1/payment_intents/{intent}",
            "/v1/payment_intents/{pi}",
            &query,
        ));
    }
    steps.extend([
        get_at(
            "/v1/payment_intents/{intent}",
            "/v1/payment_intents/{pi}",
            &[],
        )
        .save("charge", "/latest_charge"),
        get("/v1/charges/{charge}", &[])
            .save(
                "generated",
                "/payment_method_details/card_present/generated_card",
            )
            .save("card", "/payment_method"),
        // The consent given at the reader (`process_config[allow_redisplay]`) is the saved card's.
        get_at(
            "/v1/payment_methods/{payment_method}",
            "/v1/payment_methods/{generated}",
            &[("expand[]", "customer")],
        )
        .expect("/allow_redisplay", json!("always")),
        get_at(
            "/v1/payment_methods/{payment_method}",
            "/v1/payment_methods/{card}",
            &[],
        ),
        post_at(
            "/v1/payment_intents/{intent}/capture",
            "/v1/payment_intents/{pi}/capture",
            &[("amount_to_capture", "1000"), ("expand[]", "latest_charge")],
        ),
        post(
            "/v1/refunds",
            &[
                ("payment_intent", "{pi}"),
                ("amount", "300"),
                ("metadata[r]", "1"),
            ],
        )
        .save("refund", "/id"),
        get("/v1/refunds/{refund}", &[("expand[]", "charge")]),
        get("/v1/charges/{charge}", &[("expand[]", "payment_intent")]),
        get(
            "/v1/customers/{customer}/payment_methods",
            &[("type", "card")],
        ),
        get(
            "/v1/payment_methods",
            &[("customer", "{customer}"), ("type", "card")],
        ),
        // Off-session charge of the saved card; a declined one; the error envelope.
        post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("customer", "{customer}"),
                ("payment_method", "{generated}"),
                ("off_session", "true"),
                ("confirm", "true"),
                ("expand[]", "latest_charge"),
            ],
        ),
        error(
            "declined confirm",
            "POST",
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .component("/error/payment_intent", "payment_intent"),
        error(
            "unknown parameter",
            "POST",
            "/v1/customers",
            &[("nope", "1")],
        ),
        error("missing", "GET", "/v1/payment_intents/pi_missing", &[]),
    ]);
    // Declined at the reader: failed charge and action.
    steps.extend(card_present_payment(
        "4000000000009995",
        "failed_pi",
        "failed_reader",
    ));
    steps.extend([
        get_at("/v1/payment_intents/{intent}", "/v1/payment_intents/{failed_pi}", &[
            ("expand[]", "latest_charge"),
        ]),
        post_at("/v1/terminal/readers/{reader}/process_payment_intent", "/v1/terminal/readers/{failed_reader}/process_payment_intent",
            &[
                ("payment_intent", "{failed_pi}"),
                ("process_config[skip_tipping]", "true"),
                ("process_config[allow_redisplay]", "limited"),
            ],
        ),
        post_at("/v1/terminal/readers/{reader}/cancel_action", "/v1/terminal/readers/{failed_reader}/cancel_action",
            &[],
        ),
        post_at("/v1/payment_intents/{intent}/cancel", "/v1/payment_intents/{failed_pi}/cancel", &[
            ("cancellation_reason", "abandoned"),
        ]),
        get("/v1/terminal/readers/{reader}", &[
            ("expand[]", "action.process_payment_intent.payment_intent"),
        ]),
        // Intent update / confirm / increment / search / list.
        post("/v1/payment_intents", &[
            ("amount", "800"),
            ("currency", "usd"),
            ("allowed_payment_method_types[0]", "card_present"),
            ("capture_method", "manual"),
            ("payment_method_options[card_present][request_incremental_authorization_support]", "true"),
        ])
        .save("open", "/id"),
        post_at("/v1/payment_intents/{intent}", "/v1/payment_intents/{open}", &[
            ("amount", "900"),
            ("description", "d"),
        ]),
        // Presented for the existing intent on a fresh reader.
        post("/v1/terminal/readers", &[
            ("registration_code", "simulated-wpe"),
            ("label", "Till 1"),
        ])
        .save("fresh_reader", "/id"),
        post_at("/v1/terminal/readers/{reader}/process_payment_intent", "/v1/terminal/readers/{fresh_reader}/process_payment_intent",
            &[("payment_intent", "{open}")],
        ),
        post_at("/v1/test_helpers/terminal/readers/{reader}/present_payment_method", "/v1/test_helpers/terminal/readers/{fresh_reader}/present_payment_method",
            &[],
        ),
        post_at("/v1/payment_intents/{intent}/increment_authorization", "/v1/payment_intents/{open}/increment_authorization",
            &[("amount", "1200")],
        ),
        // Interac on the reader, refunded on the reader: in part (the refund made, its events and
        // the action's), then refused for another card (the failed action); the API refuses it.
        post("/v1/payment_intents", &[
            ("amount", "2500"),
            ("currency", "cad"),
            ("allowed_payment_method_types[0]", "card_present"),
            ("allowed_payment_method_types[1]", "interac_present"),
            ("capture_method", "manual"),
        ])
        .save("interac", "/id"),
        post_at("/v1/terminal/readers/{reader}/process_payment_intent", "/v1/terminal/readers/{fresh_reader}/process_payment_intent",
            &[("payment_intent", "{interac}")],
        ),
        post_at("/v1/test_helpers/terminal/readers/{reader}/present_payment_method", "/v1/test_helpers/terminal/readers/{fresh_reader}/present_payment_method",
            &[("type", "interac_present"), ("interac_present[number]", "4506445006931933")],
        ),
        error("Interac refunded through the API", "POST", "/v1/refunds", &[("payment_intent", "{interac}")]),
        post_at("/v1/terminal/readers/{reader}/refund_payment", "/v1/terminal/readers/{fresh_reader}/refund_payment",
            &[
                ("payment_intent", "{interac}"),
                ("amount", "1000"),
                ("metadata[reader_refund_id]", "rrf_1"),
                ("refund_payment_config[enable_customer_cancellation]", "true"),
            ],
        )
        .expect("/action/type", json!("refund_payment"))
        .expect("/action/status", json!("in_progress")),
        post_at("/v1/test_helpers/terminal/readers/{reader}/present_payment_method", "/v1/test_helpers/terminal/readers/{fresh_reader}/present_payment_method",
            &[("type", "interac_present"), ("interac_present[number]", "4506445006931933")],
        )
        .expect("/action/status", json!("succeeded"))
        .save("reader_refund", "/action/refund_payment/refund"),
        get_at("/v1/refunds/{refund}", "/v1/refunds/{reader_refund}", &[])
            .expect("/metadata/reader_refund_id", json!("rrf_1")),
        get_at("/v1/payment_intents/{intent}", "/v1/payment_intents/{interac}", &[])
            .save("interac_charge", "/latest_charge"),
        post_at("/v1/terminal/readers/{reader}/refund_payment", "/v1/terminal/readers/{fresh_reader}/refund_payment",
            &[("charge", "{interac_charge}")],
        )
        .expect("/action/refund_payment/amount", json!(1500)),
        post_at("/v1/test_helpers/terminal/readers/{reader}/present_payment_method", "/v1/test_helpers/terminal/readers/{fresh_reader}/present_payment_method",
            &[("card_present[number]", "4242424242424242")],
        )
        .expect("/action/status", json!("failed"))
        .expect("/action/failure_code", json!("card_mismatch")),
        get("/v1/refunds", &[("payment_intent", "{interac}")]),
        post("/v1/payment_intents", &[
            ("amount", "700"),
            ("currency", "eur"),
            ("payment_method", "pm_card_visa"),
        ])
        .save("online", "/id"),
        post_at("/v1/payment_intents/{intent}/confirm", "/v1/payment_intents/{online}/confirm", &[
            ("expand[]", "latest_charge"),
        ]),
        get("/v1/payment_intents/search", &[
            ("query", "metadata['external_transaction_id']:'t-1'"),
        ]),
        get("/v1/payment_intents", &[
            ("customer", "{customer}"),
            ("expand[]", "data.latest_charge"),
        ]),
        // Payment methods attach / detach.
        post_at("/v1/payment_methods/{payment_method}/attach", "/v1/payment_methods/pm_card_mastercard/attach",
            &[("customer", "{customer}")],
        )
        .save("attached", "/id"),
        post_at("/v1/payment_methods/{payment_method}/detach", "/v1/payment_methods/{attached}/detach",
            &[],
        ),
        // Setup intents.
        post("/v1/setup_intents", &[
            ("customer", "{customer}"),
            ("metadata[k]", "v"),
        ])
        .save("si", "/id"),
        post_at("/v1/setup_intents/{intent}/confirm", "/v1/setup_intents/{si}/confirm", &[
            ("payment_method", "pm_card_visa"),
        ]),
        get_at("/v1/setup_intents/{intent}", "/v1/setup_intents/{si}", &[
            ("expand[]", "payment_method"),
            ("expand[]", "customer"),
        ]),
        // A card saved on a reader without a payment: the SetupAttempt and its generated card.
        post("/v1/setup_intents", &[
            ("customer", "{customer}"),
            ("allowed_payment_method_types[]", "card_present"),
            ("usage", "off_session"),
        ])
        .save("present_si", "/id"),
        post("/v1/terminal/readers", &[("registration_code", "simulated-wpe")])
            .save("setup_reader", "/id"),
        post_at(
            "/v1/terminal/readers/{reader}/process_setup_intent",
            "/v1/terminal/readers/{setup_reader}/process_setup_intent",
            &[
                ("setup_intent", "{present_si}"),
                ("allow_redisplay", "always"),
                ("process_config[enable_customer_cancellation]", "true"),
                ("expand[]", "action.process_setup_intent.setup_intent"),
            ],
        ),
        post_at(
            "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
            "/v1/test_helpers/terminal/readers/{setup_reader}/present_payment_method",
            &[("card_present[number]", "4242424242424242")],
        )
        .expect("/action/status", json!("succeeded")),
        get_at("/v1/setup_intents/{intent}", "/v1/setup_intents/{present_si}", &[
            ("expand[]", "latest_attempt.payment_method_details.card_present.generated_card"),
        ])
        .expect("/status", json!("succeeded")),
        // Declined at the reader, then canceled.
        post("/v1/setup_intents", &[
            ("customer", "{customer}"),
            ("allowed_payment_method_types[]", "card_present"),
        ])
        .save("declined_si", "/id"),
        post_at(
            "/v1/terminal/readers/{reader}/process_setup_intent",
            "/v1/terminal/readers/{setup_reader}/process_setup_intent",
            &[("setup_intent", "{declined_si}"), ("allow_redisplay", "limited")],
        ),
        post_at(
            "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
            "/v1/test_helpers/terminal/readers/{setup_reader}/present_payment_method",
            &[("card_present[number]", "4000000000000002")],
        )
        .expect("/action/status", json!("failed")),
        get_at("/v1/setup_intents/{intent}", "/v1/setup_intents/{declined_si}", &[
            ("expand[]", "latest_attempt"),
        ])
        .expect("/latest_attempt/status", json!("failed")),
        post_at(
            "/v1/terminal/readers/{reader}/process_setup_intent",
            "/v1/terminal/readers/{setup_reader}/process_setup_intent",
            &[("setup_intent", "{declined_si}"), ("allow_redisplay", "limited")],
        ),
        post_at("/v1/terminal/readers/{reader}/cancel_action", "/v1/terminal/readers/{setup_reader}/cancel_action", &[]),
        post_at("/v1/setup_intents/{intent}/cancel", "/v1/setup_intents/{declined_si}/cancel", &[
            ("cancellation_reason", "abandoned"),
        ])
        .expect("/status", json!("canceled")),
        error("canceling a canceled SetupIntent", "POST", "/v1/setup_intents/{declined_si}/cancel", &[]),
        // Checkout in both modes.
        post("/v1/checkout/sessions", &[
            ("mode", "setup"),
            ("customer", "{customer}"),
            ("currency", "usd"),
            ("success_url", "https://x/ok"),
        ])
        .save("setup", "/id"),
        control("/_sim/checkout/{setup}/complete"),
        get_at("/v1/checkout/sessions/{session}", "/v1/checkout/sessions/{setup}", &[
            ("expand[]", "setup_intent"),
        ]),
        post("/v1/checkout/sessions", &[
            ("mode", "payment"),
            ("success_url", "https://x/ok"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "999"),
            ("line_items[0][price_data][product_data][name]", "Thing"),
            ("line_items[0][quantity]", "1"),
        ])
        .save("pay", "/id"),
        control("/_sim/checkout/{pay}/complete").save("paid_intent", "/payment_intent"),
        get_at("/v1/checkout/sessions/{session}", "/v1/checkout/sessions/{pay}", &[
            ("expand[]", "payment_intent"),
        ]),
        get("/v1/checkout/sessions", &[("payment_intent", "{paid_intent}")]),
        post("/v1/checkout/sessions", &[
            ("mode", "setup"),
            ("currency", "usd"),
            ("success_url", "https://x/ok"),
        ])
        .save("third", "/id"),
        post_at("/v1/checkout/sessions/{session}/expire", "/v1/checkout/sessions/{third}/expire", &[]),
        // Disputes: Stripe's fraudulent dispute card at a reader, captured at once.
        post("/v1/payment_intents", &[
            ("amount", "1299"),
            ("currency", "usd"),
            ("allowed_payment_method_types[]", "card_present"),
        ])
        .save("disputed", "/id"),
        post("/v1/terminal/readers", &[("registration_code", "simulated-wpe")])
            .save("dispute_reader", "/id"),
        post_at(
            "/v1/terminal/readers/{reader}/process_payment_intent",
            "/v1/terminal/readers/{dispute_reader}/process_payment_intent",
            &[("payment_intent", "{disputed}")],
        ),
        post_at(
            "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
            "/v1/test_helpers/terminal/readers/{dispute_reader}/present_payment_method",
            &[("card_present[number]", "4000000000000259")],
        ),
        get("/v1/disputes", &[("payment_intent", "{disputed}"), ("limit", "1")])
            .save("dispute", "/data/0/id")
            .expect("/data/0/status", json!("needs_response")),
        get("/v1/disputes/{dispute}", &[("expand[]", "charge"), ("expand[]", "payment_intent")]),
        post("/v1/disputes/{dispute}", &[
            ("evidence[customer_name]", "Jane Doe"),
            ("evidence[uncategorized_text]", "winning_evidence"),
            ("metadata[case]", "1"),
            ("submit", "false"),
        ])
        .expect("/status", json!("needs_response")),
        post("/v1/disputes/{dispute}/close", &[]).expect("/status", json!("lost")),
        error("closing a closed dispute", "POST", "/v1/disputes/{dispute}/close", &[]),
        error("an unknown dispute", "GET", "/v1/disputes/dp_nope", &[]),
        // Balance transactions and an automatic payout (the simulator's payout test helper).
        get("/v1/balance_transactions", &[("type", "charge"), ("limit", "3")]),
        control_with("/_sim/payouts", &[("api_key", "sk_test_simulator")])
            .save("payout", "/payouts/0/id"),
        get("/v1/payouts", &[("status", "paid"), ("limit", "1")]),
        get("/v1/payouts/{payout}", &[("expand[]", "balance_transaction")]),
        get("/v1/balance_transactions", &[
            ("payout", "{payout}"),
            ("expand[]", "data.source"),
            ("limit", "100"),
        ])
        .save("txn", "/data/0/id"),
        get_at("/v1/balance_transactions/{id}", "/v1/balance_transactions/{txn}", &[]),
        error("an unknown payout", "GET", "/v1/payouts/po_nope", &[]),
        error("an unknown balance transaction", "GET", "/v1/balance_transactions/txn_nope", &[]),
        // Events.
        get("/v1/events", &[("limit", "100")]).save("event", "/data/0/id"),
        get_at("/v1/events/{id}", "/v1/events/{event}", &[]),
        // Webhook endpoints.
        post("/v1/webhook_endpoints", &[
            ("url", "https://pos.example/v1/webhooks/stripe"),
            ("enabled_events[0]", "payment_intent.succeeded"),
            ("connect", "true"),
            ("api_version", "2026-11-18.endive"),
            ("metadata[k]", "v"),
        ])
        .save("endpoint", "/id"),
        get("/v1/webhook_endpoints", &[("limit", "1")]),
        get_at("/v1/webhook_endpoints/{webhook_endpoint}", "/v1/webhook_endpoints/{endpoint}", &[]),
        post_at("/v1/webhook_endpoints/{webhook_endpoint}", "/v1/webhook_endpoints/{endpoint}", &[
            ("enabled_events[0]", "*"),
            ("disabled", "true"),
        ]),
        step(
            Kind::Response { template: "/v1/webhook_endpoints/{webhook_endpoint}" },
            "DELETE",
            "/v1/webhook_endpoints/{endpoint}",
            &[],
        ),
    ]);
    steps
}

#[tokio::test]
async fn every_operation_conforms() {
    let sim = start().await;
    let mut c = Checks::default();
    let mut saved = BTreeMap::new();
    for step in operations() {
        step.run(&sim, &mut c, &mut saved).await;
    }
    // Every event's object against its own schema.
    let events = sim.get("/v1/events", &[("limit", "100")]).await.ok();
    let events = events["data"].as_array().unwrap().clone();
    assert!(events.len() > 30);
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
