//! Stripe's OpenAPI description (`../shared/stripe/spec3.json`, relative to the crate root) for
//! conformance tests: response validation against an operation's 200 schema, the parameters an
//! operation declares, and whether a sent form key (`metadata[foo]`, `expand[]`,
//! `payment_method_types[0]`) is one of them.
//!
//! Include it from a test crate with `#[path = "../support/spec.rs"] mod spec;`.
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The parsed spec, loaded once.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/stripe/spec3.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).expect("spec3.json is JSON")
    })
}

/// The operation object for `method` (any case) and a path template (`/v1/customers/{customer}`).
pub fn operation(method: &str, path_template: &str) -> Option<&'static Value> {
    spec()["paths"]
        .get(path_template)?
        .get(method.to_ascii_lowercase())
}

/// The path template of the spec matching a concrete path (`/v1/customers/cus_1` →
/// `/v1/customers/{customer}`), preferring literal segments.
pub fn match_path(method: &str, path: &str) -> Option<String> {
    let wanted: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut best: Option<(usize, String)> = None;
    for (template, item) in spec()["paths"].as_object()? {
        if item.get(method.to_ascii_lowercase()).is_none() {
            continue;
        }
        let segments: Vec<&str> = template.trim_matches('/').split('/').collect();
        if segments.len() != wanted.len() {
            continue;
        }
        let mut literal = 0;
        let fits = segments.iter().zip(&wanted).all(|(t, p)| {
            if t.starts_with('{') {
                !p.is_empty()
            } else {
                literal += 1;
                t == p
            }
        });
        if fits && best.as_ref().is_none_or(|(n, _)| literal > *n) {
            best = Some((literal, template.clone()));
        }
    }
    best.map(|(_, t)| t)
}

/// Follows `$ref`s.
fn resolve(schema: &'static Value) -> &'static Value {
    let mut schema = schema;
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        schema = &spec()["components"]["schemas"][name];
    }
    schema
}

/// Validates `value` against `schema`; errors name the JSON path.
pub fn validate(schema: &'static Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check(schema, value, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Validates against a named component schema (`payment_intent`, `error`, …).
pub fn validate_component(name: &str, value: &Value) -> Result<(), Vec<String>> {
    let schema = &spec()["components"]["schemas"][name];
    assert!(!schema.is_null(), "no component schema {name}");
    validate(schema, value)
}

/// Validates a response body against the 200 response schema of an operation.
pub fn validate_response(
    method: &str,
    path_template: &str,
    body: &Value,
) -> Result<(), Vec<String>> {
    let op = operation(method, path_template)
        .unwrap_or_else(|| panic!("no operation {method} {path_template} in the spec"));
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "no 200 JSON schema for {method} {path_template}"
    );
    validate(schema, body)
}

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

fn check(schema: &'static Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(schema);
    if value.is_null() {
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        let untyped = schema.as_object().is_some_and(|o| {
            !o.contains_key("type") && !o.contains_key("anyOf") && !o.contains_key("oneOf")
        });
        if !nullable && !untyped {
            errors.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(alternatives) = schema.get(combinator).and_then(Value::as_array) {
            let mut best: Option<Vec<String>> = None;
            for alternative in alternatives {
                let mut errs = Vec::new();
                check(alternative, value, at, &mut errs);
                if errs.is_empty() {
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                    best = Some(errs);
                }
            }
            if let Some(errs) = best {
                errors.push(format!("{at}: matches none of {combinator}; closest:"));
                errors.extend(errs);
            }
            return;
        }
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(kind, value) {
            errors.push(format!("{at}: expected {kind}, got {value}"));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            errors.push(format!(
                "{at}: {value} is not one of {}",
                Value::Array(values.clone())
            ));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: missing required {name}"));
                }
            }
        }
        for (name, v) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => check(property, v, &format!("{at}.{name}"), errors),
                None => {
                    if let Some(extra) =
                        schema.get("additionalProperties").filter(|s| s.is_object())
                    {
                        check(extra, v, &format!("{at}.{name}"), errors);
                    }
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

/// The request parameters an operation declares: query parameters and form body properties.
fn parameter_schemas(method: &str, path_template: &str) -> Vec<(String, &'static Value, bool)> {
    let Some(op) = operation(method, path_template) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "query" {
            out.push((
                p["name"].as_str().unwrap_or_default().to_string(),
                &p["schema"],
                p["required"] == true,
            ));
        }
    }
    let body = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let required: Vec<&str> = body["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, schema) in body["properties"].as_object().into_iter().flatten() {
        out.push((name.clone(), schema, required.contains(&name.as_str())));
    }
    out
}

/// Names of the top-level parameters an operation declares.
pub fn declared_params(method: &str, path_template: &str) -> Vec<String> {
    parameter_schemas(method, path_template)
        .into_iter()
        .map(|(name, _, _)| name)
        .collect()
}

fn alternatives(schema: &'static Value) -> Vec<&'static Value> {
    let schema = resolve(schema);
    match schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        Some(list) => list.iter().flat_map(alternatives).collect(),
        None => vec![schema],
    }
}

/// Whether a form key as sent (`metadata[foo]`, `expand[]`, `payment_method_types[0]`,
/// `card_present[number]`) names a parameter the operation declares; `Err` explains why not.
pub fn check_param_key(method: &str, path_template: &str, key: &str) -> Result<(), String> {
    let (head, rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    let mut segments = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .ok_or_else(|| format!("{key}: malformed brackets"))?;
        let close = inner
            .find(']')
            .ok_or_else(|| format!("{key}: malformed brackets"))?;
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    let params = parameter_schemas(method, path_template);
    let (_, schema, _) = params
        .iter()
        .find(|(name, _, _)| name == head)
        .ok_or_else(|| format!("{key}: {head} is not a parameter of {method} {path_template}"))?;
    let mut current: Vec<&'static Value> = alternatives(schema);
    for segment in segments {
        let index = segment.is_empty() || segment.bytes().all(|b| b.is_ascii_digit());
        let mut next = Vec::new();
        for s in &current {
            if index {
                if let Some(items) = s.get("items") {
                    next.extend(alternatives(items));
                }
            }
            if let Some(p) = s.get("properties").and_then(|p| p.get(segment)) {
                next.extend(alternatives(p));
            } else {
                match s.get("additionalProperties") {
                    Some(extra) if extra.is_object() => next.extend(alternatives(extra)),
                    Some(Value::Bool(true)) => next.push(&Value::Null),
                    _ if s["type"] == "object" && s.get("properties").is_none() => {
                        next.push(&Value::Null)
                    }
                    _ => {}
                }
            }
        }
        if next.is_empty() {
            return Err(format!("{key}: [{segment}] is not declared"));
        }
        current = next;
    }
    let scalar = current.iter().any(|s| {
        s.is_null()
            || s.get("enum").is_some()
            || matches!(
                s["type"].as_str(),
                Some("string" | "integer" | "number" | "boolean")
            )
    });
    if scalar {
        Ok(())
    } else {
        Err(format!("{key}: names an object or array, not a value"))
    }
}

// --- The simulator's parameter table (`src/sim/params.json`) is derived from the spec. ---

fn is_empty_enum(d: &Map<String, Value>) -> bool {
    d.get("t") == Some(&json!("enum"))
        && d.get("e") == Some(&json!([""]))
        && !d.contains_key("f")
        && !d.contains_key("a")
        && !d.contains_key("m")
}

fn merge(a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let (a, b) = if is_empty_enum(&b) { (b, a) } else { (a, b) };
    if is_empty_enum(&a) {
        let mut out = b;
        out.insert("z".into(), json!(1));
        return out;
    }
    let mut out = Map::new();
    if a.contains_key("f") || b.contains_key("f") {
        let mut fields: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for side in [&a, &b] {
            for (k, v) in side
                .get("f")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let v = v.as_object().cloned().unwrap_or_default();
                let merged = match fields.remove(k) {
                    Some(existing) => merge(existing, v),
                    None => v,
                };
                fields.insert(k.clone(), merged);
            }
        }
        out.insert("f".into(), object(fields));
    }
    for k in ["a", "m"] {
        let left = a.get(k).and_then(Value::as_object).cloned();
        let right = b.get(k).and_then(Value::as_object).cloned();
        let merged = match (left, right) {
            (Some(l), Some(r)) => Some(merge(l, r)),
            (l, r) => l.or(r),
        };
        if let Some(m) = merged {
            out.insert(k.into(), Value::Object(m));
        }
    }
    if a.contains_key("z") || b.contains_key("z") {
        out.insert("z".into(), json!(1));
    }
    match (a.get("t"), b.get("t")) {
        (Some(ta), Some(tb)) => {
            if ta == "enum" && tb == "enum" {
                let mut values: Vec<String> = a["e"]
                    .as_array()
                    .into_iter()
                    .chain(b["e"].as_array())
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                values.sort();
                values.dedup();
                out.insert("t".into(), json!("enum"));
                out.insert("e".into(), json!(values));
            } else if ta == tb {
                out.insert("t".into(), ta.clone());
            } else {
                out.insert("t".into(), json!("string"));
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            let side = if a.contains_key("t") { &a } else { &b };
            out.insert("t".into(), side["t"].clone());
            if let Some(e) = side.get("e") {
                out.insert("e".into(), e.clone());
            }
        }
        (None, None) => {}
    }
    out
}

fn object(fields: BTreeMap<String, Map<String, Value>>) -> Value {
    let mut map = Map::new();
    for (k, v) in fields {
        map.insert(k, Value::Object(v));
    }
    Value::Object(map)
}

fn decl(schema: &'static Value) -> Map<String, Value> {
    let schema = resolve(schema);
    if let Some(list) = schema.get("anyOf").and_then(Value::as_array) {
        return list
            .iter()
            .fold(Map::new(), |acc, alt| merge(acc, decl(alt)));
    }
    let mut d = Map::new();
    match schema["type"].as_str() {
        Some("object") => {
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .filter(|p| !p.is_empty());
            if let Some(props) = props {
                let fields = props.iter().map(|(k, v)| (k.clone(), decl(v))).collect();
                d.insert("f".into(), object(fields));
            }
            let extra = schema.get("additionalProperties");
            if props.is_none() || !matches!(extra, None | Some(Value::Bool(false))) {
                let m = match extra {
                    Some(e) if e.is_object() => decl(e),
                    _ => {
                        let mut s = Map::new();
                        s.insert("t".into(), json!("string"));
                        s
                    }
                };
                d.insert("m".into(), Value::Object(m));
            }
        }
        Some("array") => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            let items = if items.is_null() {
                Map::new()
            } else {
                decl(items)
            };
            let items = if items.is_empty() {
                let mut s = Map::new();
                s.insert("t".into(), json!("string"));
                s
            } else {
                items
            };
            d.insert("a".into(), Value::Object(items));
        }
        kind => {
            let bypass = schema.get("x-stripeBypassValidation") == Some(&json!(true));
            if let (Some(values), false) = (schema.get("enum"), bypass) {
                d.insert("t".into(), json!("enum"));
                d.insert("e".into(), values.clone());
            } else if let Some(k @ ("integer" | "boolean" | "number")) = kind {
                d.insert("t".into(), json!(k));
            } else {
                d.insert("t".into(), json!("string"));
            }
        }
    }
    d
}

/// The simulator's declaration of one operation (`{"params": {…}, "required": […]}`), derived
/// from the spec exactly as `src/sim/params.json` stores it.
pub fn operation_declaration(method: &str, path_template: &str) -> Value {
    let mut params = BTreeMap::new();
    let mut required = Vec::new();
    for (name, schema, is_required) in parameter_schemas(method, path_template) {
        if is_required {
            required.push(name.clone());
        }
        params.insert(name, decl(schema));
    }
    required.sort();
    json!({ "params": object(params), "required": required })
}
