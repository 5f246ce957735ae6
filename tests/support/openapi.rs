//! Our own OpenAPI document (`GET /v1/openapi.json`, built by `pos_backend::api::openapi::spec`)
//! as the contract every response of the API suite is checked against: the operation whose path
//! template matches the concrete path, the response documented for the status, the JSON body
//! against that response's schema.
//!
//! The validator covers the subset of OpenAPI 3.0 schemas the document uses: `$ref` (local
//! pointers), `allOf`, `oneOf`, `anyOf`, `nullable`, `type`, `enum`, `properties`, `required`,
//! `additionalProperties` (`false` or a schema), `maxProperties`, `items`, `minItems`,
//! `maxItems`, `minLength`, `maxLength`, `pattern` (a small regular-expression matcher, below),
//! `format` (`date-time`, `uri`), `minimum`, `maximum`, `exclusiveMinimum`. Any other keyword
//! is an error, so the document cannot use one that would silently go unchecked.
//!
//! Include it from a test crate with `#[path = "../support/openapi.rs"] mod openapi;`.
#![allow(dead_code)]

use serde_json::Value;
use std::sync::OnceLock;

/// The document, built once by the library (the route serves exactly this; `openapi_doc.rs`
/// checks that).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(pos_backend::api::openapi::spec)
}

/// Why a request found no operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Unmatched {
    /// No path template fits the path.
    Path,
    /// A template fits, without this method.
    Method(String),
}

/// The path template and operation documented for `method` (any case) on a concrete path (its
/// query string ignored). Literal segments win over parameters (`/v1/payment/capture` over
/// `/v1/payment/{payment_id}`).
pub fn operation<'d>(
    doc: &'d Value,
    method: &str,
    path: &str,
) -> Result<(&'d str, &'d Value), Unmatched> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let wanted: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &'d str, &'d Value)> = None;
    for (template, item) in doc["paths"].as_object().into_iter().flatten() {
        let segments: Vec<&str> = template.split('/').collect();
        if segments.len() != wanted.len() {
            continue;
        }
        let mut literal = 0;
        let fits = segments.iter().zip(&wanted).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                literal += 1;
                t == p
            }
        });
        if fits && best.as_ref().is_none_or(|(n, _, _)| literal > *n) {
            best = Some((literal, template, item));
        }
    }
    let (_, template, item) = best.ok_or(Unmatched::Path)?;
    let op = item
        .get(method.to_ascii_lowercase())
        .ok_or_else(|| Unmatched::Method(template.to_string()))?;
    Ok((template, op))
}

/// The response an operation documents for `status`: the exact code, else `4XX`/`5XX`, else
/// `default`; references resolved.
fn response_for<'d>(doc: &'d Value, op: &'d Value, status: u16) -> Option<&'d Value> {
    let responses = &op["responses"];
    let class = format!("{}XX", status / 100);
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get(&class))
        .or_else(|| responses.get(class.to_ascii_lowercase()))
        .or_else(|| responses.get("default"))?;
    Some(resolve(doc, response))
}

/// A media type as compared: lower case, without spaces (`text/plain; version=0.0.4`).
fn media(content_type: &str) -> String {
    content_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The documented response for a request, or why there is none.
fn documented<'d>(
    doc: &'d Value,
    method: &str,
    path: &str,
    status: u16,
) -> Result<(&'d str, &'d Value), String> {
    let (template, op) = operation(doc, method, path).map_err(|e| match e {
        Unmatched::Path => format!("{method} {path}: no documented path matches"),
        Unmatched::Method(t) => format!("{method} {path}: {t} documents no {method}"),
    })?;
    let response = response_for(doc, op, status).ok_or_else(|| {
        format!("{method} {path} ({template}): status {status} is not documented")
    })?;
    Ok((template, response))
}

/// Checks a JSON response body against the document: the operation, the documented response for
/// `status`, its `application/json` schema.
pub fn check(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let (template, response) = documented(doc, method, path, status)?;
    let schema = response["content"]["application/json"]
        .get("schema")
        .ok_or_else(|| {
            format!("{method} {path} ({template}) {status}: no application/json body documented")
        })?;
    validate(doc, schema, body).map_err(|errors| {
        format!(
            "{method} {path} ({template}) {status}: the body does not match the document:\n  {}",
            errors.join("\n  ")
        )
    })
}

/// Checks a response that is not JSON (the metrics text): the status is documented for the
/// operation with this media type.
pub fn check_media(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
) -> Result<(), String> {
    let (template, response) = documented(doc, method, path, status)?;
    let served = media(content_type);
    let content = response["content"].as_object();
    let listed = content
        .into_iter()
        .flatten()
        .any(|(m, _)| media(m) == served);
    let bodiless = content.is_none_or(|c| c.is_empty()) && served.is_empty();
    if listed || bodiless {
        Ok(())
    } else {
        Err(format!(
            "{method} {path} ({template}) {status}: Content-Type {content_type:?} is not documented"
        ))
    }
}

/// The hook of the API suite's request helpers: panics unless the response is what the document
/// says. A path no template matches must get the router's documented `404 resource_missing`
/// envelope, a documented path with another method its `405`; requests outside the API (the
/// demo page, the simulator) are not checked.
pub fn check_response(method: &str, path: &str, status: u16, content_type: &str, text: &str) {
    let doc = document();
    let bare = path.split(['?', '#']).next().unwrap_or_default();
    let outside_api = |p: &str| p == "/pos" || p.starts_with("/pos/") || p.starts_with("/sim/");
    let json = media(content_type).starts_with("application/json");
    let result = match operation(doc, method, path) {
        Err(Unmatched::Path) if outside_api(bare) && status != 404 => Ok(()),
        Err(unmatched) => {
            let wanted = match unmatched {
                Unmatched::Path => (404, "resource_missing"),
                Unmatched::Method(_) => (405, "method_not_allowed"),
            };
            router_fallback(doc, status, json, text, wanted)
                .map_err(|e| format!("{method} {path} ({unmatched:?}): {e}"))
        }
        Ok(_) if json => match serde_json::from_str::<Value>(text) {
            Ok(body) => check(doc, method, path, status, &body),
            Err(e) => Err(format!("{method} {path} {status}: not JSON ({e})")),
        },
        Ok(_) => check_media(doc, method, path, status, content_type),
    };
    if let Err(mismatch) = result {
        panic!("response differs from the OpenAPI document: {mismatch}\nbody: {text}");
    }
    if let (Ok(path), Ok((template, _))) = (
        std::env::var("OPENAPI_COVERAGE"),
        operation(doc, method, path),
    ) {
        record_coverage(&path, method, template, status);
    }
}

/// With `OPENAPI_COVERAGE=<file>`, each checked answer appends `METHOD template status` to the
/// file: `sort -u` it against the document to see which documented responses no test exercises.
fn record_coverage(file: &str, method: &str, template: &str, status: u16) {
    use std::io::Write;
    let line = format!("{} {template} {status}\n", method.to_ascii_uppercase());
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap_or_else(|e| panic!("OPENAPI_COVERAGE={file}: {e}"));
    out.write_all(line.as_bytes())
        .expect("coverage line written");
}

/// The router's answer for an undocumented route: `status` with the Error envelope and `code`.
fn router_fallback(
    doc: &Value,
    status: u16,
    json: bool,
    text: &str,
    (want_status, want_code): (u16, &str),
) -> Result<(), String> {
    if status != want_status || !json {
        return Err(format!(
            "expected the router's {want_status} envelope, got {status}"
        ));
    }
    let body: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    validate(doc, &error, &body).map_err(|e| e.join("; "))?;
    if body["error"]["code"] != want_code {
        return Err(format!("expected code {want_code}"));
    }
    Ok(())
}

/// Follows `$ref`s (local JSON pointers).
fn resolve<'d>(doc: &'d Value, mut schema: &'d Value) -> &'d Value {
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {reference}"));
        schema = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    schema
}

/// Validates `value` against `schema`; each error names the JSON path.
pub fn validate(doc: &Value, schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    walk(doc, schema, value, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Keywords that only describe.
const ANNOTATIONS: &[&str] = &["description", "example", "default", "title", "readOnly"];

const KEYWORDS: &[&str] = &[
    "$ref",
    "allOf",
    "oneOf",
    "anyOf",
    "nullable",
    "type",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "maxProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
];

fn type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => panic!("unknown type {other}"),
    }
}

fn walk(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    let Some(keywords) = schema.as_object() else {
        errors.push(format!("{at}: the schema is not an object: {schema}"));
        return;
    };
    for key in keywords.keys() {
        if !KEYWORDS.contains(&key.as_str())
            && !ANNOTATIONS.contains(&key.as_str())
            && !key.starts_with("x-")
        {
            errors.push(format!(
                "{at}: the document uses `{key}`, which is not checked"
            ));
        }
    }
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        walk(doc, part, value, at, errors);
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        let Some(alternatives) = schema[keyword].as_array() else {
            continue;
        };
        let outcomes: Vec<Vec<String>> = alternatives
            .iter()
            .map(|alternative| {
                let mut errs = Vec::new();
                walk(doc, alternative, value, at, &mut errs);
                errs
            })
            .collect();
        let matching = outcomes.iter().filter(|e| e.is_empty()).count();
        if matching == 0 {
            let closest = outcomes.iter().min_by_key(|e| e.len()).cloned();
            errors.push(format!("{at}: matches none of {keyword}; closest:"));
            errors.extend(closest.unwrap_or_default());
        } else if exactly_one && matching > 1 {
            errors.push(format!("{at}: matches {matching} members of oneOf"));
        }
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(kind, value) {
            let shown = if value.is_null() {
                "null, but not nullable".to_string()
            } else {
                value.to_string()
            };
            errors.push(format!("{at}: expected {kind}, got {shown}"));
            return;
        }
    } else if value.is_null() && !has_composition(schema) {
        errors.push(format!("{at}: null, but not nullable"));
        return;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            errors.push(format!(
                "{at}: {value} is not one of {}",
                Value::Array(values.clone())
            ));
        }
    }
    match value {
        Value::String(s) => string(schema, s, at, errors),
        Value::Number(n) => number(schema, n, at, errors),
        Value::Object(object) => {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(name) {
                        errors.push(format!("{at}: missing required {name}"));
                    }
                }
            }
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64) {
                if object.len() as u64 > max {
                    errors.push(format!("{at}: more than {max} properties"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, v) in object {
                let here = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => walk(doc, property, v, &here, errors),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{here}: not in the document"))
                        }
                        Some(extra) if extra.is_object() => walk(doc, extra, v, &here, errors),
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if len < min {
                    errors.push(format!("{at}: fewer than {min} items"));
                }
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if len > max {
                    errors.push(format!("{at}: more than {max} items"));
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(doc, item_schema, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

fn has_composition(schema: &Value) -> bool {
    ["allOf", "oneOf", "anyOf"]
        .iter()
        .any(|k| schema.get(*k).is_some())
}

fn string(schema: &Value, s: &str, at: &str, errors: &mut Vec<String>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if len < min {
            errors.push(format!("{at}: {s:?} is shorter than {min}"));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if len > max {
            errors.push(format!("{at}: {s:?} is longer than {max}"));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        if !Pattern::parse(pattern).is_match(s) {
            errors.push(format!("{at}: {s:?} does not match {pattern}"));
        }
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
            errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
        }
        Some("uri") if url::Url::parse(s).is_err() => {
            errors.push(format!("{at}: {s:?} is not a URI"));
        }
        Some("date-time" | "uri") | None => {}
        Some(other) => errors.push(format!("{at}: format {other} is not checked")),
    }
}

fn number(schema: &Value, n: &serde_json::Number, at: &str, errors: &mut Vec<String>) {
    let Some(x) = n.as_f64() else {
        errors.push(format!("{at}: {n} is out of range"));
        return;
    };
    let exclusive = schema.get("exclusiveMinimum") == Some(&Value::Bool(true));
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if x < min || (exclusive && x == min) {
            errors.push(format!("{at}: {n} is below the minimum {min}"));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        if x > max {
            errors.push(format!("{at}: {n} is above the maximum {max}"));
        }
    }
}

/// The regular expressions the document's `pattern`s use: anchors, literals and `\` escapes,
/// `.`, classes (`[A-Za-z0-9_]`, `[^…]`), groups with `|`, and the quantifiers `?`, `*`, `+`,
/// `{n}`, `{n,}`, `{n,m}`.
/// Anything else panics, so a pattern is never skipped. Unanchored, as JSON Schema means it.
#[derive(Debug)]
enum Node {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, Option<usize>),
}

pub struct Pattern(Vec<Vec<Node>>);

impl Pattern {
    pub fn parse(pattern: &str) -> Pattern {
        let mut chars = pattern.chars().peekable();
        let alternatives = parse_alternatives(&mut chars, pattern);
        assert!(chars.next().is_none(), "unbalanced ) in {pattern}");
        Pattern(alternatives)
    }

    pub fn is_match(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        (0..=chars.len()).any(|start| {
            self.0
                .iter()
                .any(|alt| match_seq(alt, &chars, start, &|_| true))
        })
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn parse_alternatives(chars: &mut Chars, pattern: &str) -> Vec<Vec<Node>> {
    let mut alternatives = vec![Vec::new()];
    while let Some(&c) = chars.peek() {
        if c == ')' {
            break;
        }
        chars.next();
        let atom = match c {
            '|' => {
                alternatives.push(Vec::new());
                continue;
            }
            '^' => Node::Start,
            '$' => Node::End,
            '.' => Node::Any,
            '\\' => match chars.next() {
                Some('d') => Node::Class(vec![('0', '9')], false),
                Some(e) if !e.is_ascii_alphanumeric() => Node::Char(e),
                other => panic!("unsupported escape \\{other:?} in {pattern}"),
            },
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    let first = match chars.next() {
                        Some(']') if !ranges.is_empty() => break,
                        Some('\\') => chars.next().expect("escape in class"),
                        Some(c) => c,
                        None => panic!("unterminated class in {pattern}"),
                    };
                    let last = if chars.peek() == Some(&'-') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        match ahead.peek() {
                            Some(&']') | None => first,
                            Some(_) => {
                                chars.next();
                                chars.next().expect("range end")
                            }
                        }
                    } else {
                        first
                    };
                    ranges.push((first, last));
                }
                Node::Class(ranges, negated)
            }
            '(' => {
                assert!(chars.peek() != Some(&'?'), "unsupported (? in {pattern}");
                let inner = parse_alternatives(chars, pattern);
                assert_eq!(chars.next(), Some(')'), "unterminated group in {pattern}");
                Node::Group(inner)
            }
            '{' | '}' | '*' | '+' | '?' | ']' => panic!("unsupported {c} in {pattern}"),
            c => Node::Char(c),
        };
        let (min, max) = match chars.next_if(|c| "?*+{".contains(*c)) {
            None => {
                alternatives.last_mut().expect("one").push(atom);
                continue;
            }
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some(_) => {
                let bounds: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let number = |n: &str| {
                    n.parse::<usize>()
                        .unwrap_or_else(|_| panic!("bad {{{bounds}}} in {pattern}"))
                };
                match bounds.split_once(',') {
                    None => (number(&bounds), Some(number(&bounds))),
                    Some((min, "")) => (number(min), None),
                    Some((min, max)) => (number(min), Some(number(max))),
                }
            }
        };
        assert!(
            chars.peek().is_none_or(|c| !"?*+{".contains(*c)),
            "unsupported quantifier after a quantifier in {pattern}"
        );
        let atom = Node::Repeat(Box::new(atom), min, max);
        alternatives.last_mut().expect("one").push(atom);
    }
    alternatives
}

fn match_seq(nodes: &[Node], s: &[char], pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
    match nodes.split_first() {
        None => k(pos),
        Some((node, rest)) => match_node(node, s, pos, &|p| match_seq(rest, s, p, k)),
    }
}

fn match_node(node: &Node, s: &[char], pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
    let here = s.get(pos).copied();
    match node {
        Node::Char(c) => here == Some(*c) && k(pos + 1),
        Node::Any => here.is_some() && k(pos + 1),
        Node::Class(ranges, negated) => here.is_some_and(|c| {
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated && k(pos + 1)
        }),
        Node::Start => pos == 0 && k(pos),
        Node::End => pos == s.len() && k(pos),
        Node::Group(alternatives) => alternatives.iter().any(|alt| match_seq(alt, s, pos, k)),
        Node::Repeat(inner, min, max) => repeat(inner, *min, *max, s, pos, 0, k),
    }
}

/// Greedy repetition with backtracking; an iteration must consume input.
fn repeat(
    inner: &Node,
    min: usize,
    max: Option<usize>,
    s: &[char],
    pos: usize,
    count: usize,
    k: &dyn Fn(usize) -> bool,
) -> bool {
    let more = max.is_none_or(|m| count < m)
        && match_node(inner, s, pos, &|p| {
            p != pos && repeat(inner, min, max, s, p, count + 1, k)
        });
    more || (count >= min && k(pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small document in the shapes ours uses: a closed object with a nullable reference, an
    /// enum, a `oneOf`, a list, and an error envelope under `4XX`.
    fn doc() -> Value {
        json!({
            "paths": {
                "/v1/things/{thing_id}": {"get": {"responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "4XX": {"$ref": "#/components/responses/Error"},
                }}},
                "/v1/things/special": {"get": {"responses": {
                    "200": {"content": {"application/json": {"schema": {"type": "object", "required": ["special"], "properties": {"special": {"type": "boolean"}}, "additionalProperties": false}}}},
                }}},
                "/metrics": {"get": {"responses": {
                    "200": {"content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}},
                }}},
            },
            "components": {
                "responses": {"Error": {"content": {"application/json": {"schema": {
                    "type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}, "additionalProperties": false,
                }}}}},
                "schemas": {
                    "Id": {"type": "string", "pattern": "^th_[A-Za-z0-9]+$"},
                    "Thing": {
                        "type": "object",
                        "required": ["id", "status", "amount", "parent", "tags", "created_at"],
                        "additionalProperties": false,
                        "properties": {
                            "id": {"$ref": "#/components/schemas/Id"},
                            "status": {"type": "string", "enum": ["open", "closed"]},
                            "amount": {"oneOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}, {"type": "integer"}]},
                            "parent": {"allOf": [{"$ref": "#/components/schemas/Id"}], "nullable": true},
                            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                            "created_at": {"type": "string", "format": "date-time"},
                            "note": {"type": "string"},
                        },
                    },
                },
            },
        })
    }

    fn thing() -> Value {
        json!({"id": "th_1", "status": "open", "amount": "12.50", "parent": null, "tags": ["a"],
               "created_at": "2026-12-06T10:00:00.000000Z"})
    }

    fn get(body: &Value) -> Result<(), String> {
        check(&doc(), "GET", "/v1/things/th_1?expand=x", 200, body)
    }

    #[test]
    fn a_documented_body_passes() {
        get(&thing()).unwrap();
        let mut with_optional = thing();
        with_optional["note"] = json!("n");
        with_optional["parent"] = json!("th_0");
        with_optional["amount"] = json!(7);
        get(&with_optional).unwrap();
    }

    #[test]
    fn a_missing_required_field_fails() {
        let mut body = thing();
        body.as_object_mut().unwrap().remove("status");
        let error = get(&body).unwrap_err();
        assert!(error.contains("missing required status"), "{error}");
    }

    #[test]
    fn an_undocumented_field_fails() {
        let mut body = thing();
        body["secret"] = json!("x");
        let error = get(&body).unwrap_err();
        assert!(error.contains("$.secret: not in the document"), "{error}");
    }

    #[test]
    fn a_wrong_enum_value_fails() {
        let mut body = thing();
        body["status"] = json!("pending");
        let error = get(&body).unwrap_err();
        assert!(
            error.contains("$.status: \"pending\" is not one of"),
            "{error}"
        );
    }

    #[test]
    fn wrong_types_nulls_patterns_and_formats_fail() {
        for (field, value, expected) in [
            ("tags", json!("a"), "$.tags: expected array"),
            (
                "status",
                Value::Null,
                "$.status: expected string, got null, but not nullable",
            ),
            ("id", json!("pi_1"), "$.id: \"pi_1\" does not match"),
            ("parent", json!("nope"), "$.parent: \"nope\" does not match"),
            ("amount", json!("12,50"), "$.amount: matches none of oneOf"),
            ("amount", json!(1.5), "$.amount: matches none of oneOf"),
            (
                "created_at",
                json!("yesterday"),
                "not an RFC 3339 date-time",
            ),
            ("tags", json!(["a", "b", "c"]), "more than 2 items"),
        ] {
            let mut body = thing();
            body[field] = value;
            let error = get(&body).unwrap_err();
            assert!(error.contains(expected), "{field}: {error}");
        }
    }

    #[test]
    fn an_unknown_path_or_method_fails() {
        let error = check(&doc(), "GET", "/v1/nothing/th_1", 200, &thing()).unwrap_err();
        assert!(error.contains("no documented path matches"), "{error}");
        let error = check(&doc(), "POST", "/v1/things/th_1", 200, &thing()).unwrap_err();
        assert!(error.contains("documents no POST"), "{error}");
        // One segment more is another path.
        assert!(check(&doc(), "GET", "/v1/things/th_1/x", 200, &thing()).is_err());
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let doc = doc();
        let (template, _) = operation(&doc, "get", "/v1/things/special").unwrap();
        assert_eq!(template, "/v1/things/special");
        check(
            &doc,
            "GET",
            "/v1/things/special",
            200,
            &json!({"special": true}),
        )
        .unwrap();
        assert!(check(&doc, "GET", "/v1/things/special", 200, &thing()).is_err());
    }

    #[test]
    fn statuses_resolve_exact_then_class_and_undocumented_ones_fail() {
        let doc = doc();
        check(
            &doc,
            "GET",
            "/v1/things/th_1",
            404,
            &json!({"code": "resource_missing"}),
        )
        .unwrap();
        let error = check(&doc, "GET", "/v1/things/th_1", 404, &json!({})).unwrap_err();
        assert!(error.contains("missing required code"), "{error}");
        let error = check(&doc, "GET", "/v1/things/th_1", 500, &json!({"code": "x"})).unwrap_err();
        assert!(error.contains("status 500 is not documented"), "{error}");
        let error = check(
            &doc,
            "GET",
            "/v1/things/special",
            404,
            &json!({"code": "x"}),
        )
        .unwrap_err();
        assert!(error.contains("status 404 is not documented"), "{error}");
    }

    #[test]
    fn non_json_answers_are_checked_for_status_and_media_type() {
        let doc = doc();
        check_media(&doc, "GET", "/metrics", 200, "text/plain; version=0.0.4").unwrap();
        assert!(check_media(&doc, "GET", "/metrics", 200, "text/html").is_err());
        assert!(check_media(&doc, "GET", "/metrics", 503, "text/plain; version=0.0.4").is_err());
    }

    #[test]
    fn keywords_the_validator_does_not_know_fail() {
        let doc = doc();
        let schema = json!({"type": "string", "const": "x"});
        let errors = validate(&doc, &schema, &json!("x")).unwrap_err();
        assert!(errors[0].contains("`const`"), "{errors:?}");
    }

    #[test]
    fn patterns() {
        for (pattern, yes, no) in [
            ("^pi_[A-Za-z0-9_]+$", "pi_3Abc_def", "pi_"),
            ("^[0-9]+(\\.[0-9]+)?$", "12.99", "12."),
            ("^(sk|rk)_(test|live)_", "rk_live_x", "pk_test_x"),
            ("^[!-~]+$", "key-1!", "with space"),
            ("^pm_", "pm_1", "xpm_1"),
            ("b+c", "aabbbcd", "ac"),
            ("^[a-z]{3}$", "usd", "usdx"),
            ("^x{2,}y{0,1}$", "xxxy", "xy"),
        ] {
            let p = Pattern::parse(pattern);
            assert!(p.is_match(yes), "{pattern} ~ {yes}");
            assert!(!p.is_match(no), "{pattern} !~ {no}");
        }
    }
}
