//! Request parameters: Stripe's form encoding (`metadata[k]=v`, `a[]=x`, `a[0]=x`, nested
//! brackets) and the parameters Stripe's OpenAPI spec declares for each simulated operation.
//!
//! `params.json` holds, per operation (`"POST /v1/payment_intents"`), the declared parameter tree
//! and the required top-level parameters, derived from `conformance/schemas/stripe.json` (the conformance tests check
//! that it still matches the spec and can regenerate it). A node of the tree is an object with
//! optional keys: `t` scalar type (`string`, `integer`, `boolean`, `number`, `enum` with values
//! in `e`), `z` (an empty string is accepted, meaning "unset"), `f` named fields, `a` array items,
//! `m` free-form map values (metadata).

use super::error::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
pub(crate) struct Decl {
    t: Option<String>,
    e: Option<Vec<String>>,
    z: Option<u8>,
    f: Option<BTreeMap<String, Decl>>,
    a: Option<Box<Decl>>,
    m: Option<Box<Decl>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Operation {
    params: BTreeMap<String, Decl>,
    required: Vec<String>,
}

fn table() -> &'static HashMap<String, Operation> {
    static TABLE: OnceLock<HashMap<String, Operation>> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("params.json")).expect("src/sim/params.json is valid")
    })
}

/// The declared parameters of one operation (`"POST /v1/customers"`). Every route of the
/// simulator has an entry; a missing one is a programming error caught by the route tests.
pub(crate) fn operation(key: &str) -> &'static Operation {
    table()
        .get(key)
        .unwrap_or_else(|| panic!("no declared parameters for {key}"))
}

/// Splits `a[b][]` into `["a", "b", ""]`; `None` when the brackets are malformed.
fn split_key(key: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut segments = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    Some(segments)
}

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.len() < 6 && segment.bytes().all(|b| b.is_ascii_digit())
}

fn check_scalar(decl: &Decl, key: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() && (decl.z.is_some() || decl.t.as_deref() == Some("string")) {
        return Ok(());
    }
    match decl.t.as_deref() {
        None if decl.z.is_some() => Err(ApiError::invalid(format!(
            "Invalid {key}: must be an object or an empty string"
        ))
        .with_param(key)),
        None if decl.a.is_some() => Err(ApiError::invalid("Invalid array").with_param(key)),
        None => Err(ApiError::invalid("Invalid object").with_param(key)),
        Some("integer") => match value.parse::<i64>() {
            Ok(_) => Ok(()),
            Err(_) => Err(ApiError::invalid(format!("Invalid integer: {value}"))
                .with_code("parameter_invalid_integer")
                .with_param(key)),
        },
        Some("number") => match value.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(()),
            _ => Err(ApiError::invalid(format!("Invalid decimal: {value}")).with_param(key)),
        },
        Some("boolean") => match value {
            "true" | "false" => Ok(()),
            _ => Err(ApiError::invalid(format!("Invalid boolean: {value}")).with_param(key)),
        },
        Some("enum") => {
            let values = decl.e.as_deref().unwrap_or_default();
            if values.iter().any(|v| v == value) {
                Ok(())
            } else {
                let shown: Vec<&str> = values
                    .iter()
                    .filter(|v| !v.is_empty())
                    .map(String::as_str)
                    .collect();
                let list = match shown.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{}, or {last}", rest.join(", "))
                    }
                    _ => shown.join(""),
                };
                Err(
                    ApiError::invalid(format!("Invalid {key}: must be one of {list}"))
                        .with_param(key),
                )
            }
        }
        Some(_) => Ok(()),
    }
}

/// Inserts `value` at `path` (segments after the top-level name), numbering `[]` elements.
fn insert(node: &mut Map<String, Value>, path: &[&str], value: &str) {
    let (first, rest) = match path.split_first() {
        Some(split) => split,
        None => return,
    };
    let key = if first.is_empty() {
        // `a[]=x`: the next element; `a[][b]=x` adds `b` to the last element while it lacks it.
        let len = node.len();
        let reuse_last = !rest.is_empty()
            && len > 0
            && node
                .get(&(len - 1).to_string())
                .and_then(Value::as_object)
                .is_some_and(|last| !last.contains_key(rest[0]));
        if reuse_last {
            (len - 1).to_string()
        } else {
            len.to_string()
        }
    } else {
        first.to_string()
    };
    if rest.is_empty() {
        node.insert(key, Value::String(value.to_string()));
        return;
    }
    let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    if let Value::Object(map) = child {
        insert(map, rest, value);
    }
}

/// Turns index-keyed maps into arrays where the declaration says "array".
fn finish(value: Value, decl: Option<&Decl>) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    let Some(decl) = decl else {
        return Value::Object(map);
    };
    if let Some(items) = &decl.a {
        if map.keys().all(|k| is_index(k)) {
            let mut entries: Vec<(usize, Value)> = map
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap_or(usize::MAX), v))
                .collect();
            entries.sort_by_key(|(i, _)| *i);
            return Value::Array(
                entries
                    .into_iter()
                    .map(|(_, v)| finish(v, Some(items)))
                    .collect(),
            );
        }
    }
    Value::Object(
        map.into_iter()
            .map(|(k, v)| {
                let child = decl
                    .f
                    .as_ref()
                    .and_then(|f| f.get(&k))
                    .or(decl.m.as_deref());
                let v = finish(v, child);
                (k, v)
            })
            .collect(),
    )
}

/// The parameters of one request, validated against the operation's declaration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    tree: Map<String, Value>,
}

impl Params {
    /// Parses raw `application/x-www-form-urlencoded` text.
    pub fn pairs(text: &[u8]) -> Vec<(String, String)> {
        form_urlencoded::parse(text).into_owned().collect()
    }

    /// Validates every key and value against `op` and builds the nested parameter tree.
    pub fn parse(op: &Operation, pairs: &[(String, String)]) -> Result<Params, ApiError> {
        let mut tree = Map::new();
        for (key, value) in pairs {
            let segments = split_key(key).ok_or_else(|| ApiError::unknown_param(key))?;
            if segments[0] == "payment_method_types"
                && op.params.contains_key("allowed_payment_method_types")
            {
                // Removed as a writable parameter in 2026-09-30.endive, with its own error code.
                return Err(ApiError::invalid(
                    "payment_method_types is no longer supported on this API version. Use allowed_payment_method_types, excluded_payment_method_types or dynamic payment methods instead.",
                )
                .with_code("payment_method_types_no_longer_supported")
                .with_param("payment_method_types"));
            }
            let mut decl = op
                .params
                .get(segments[0])
                .ok_or_else(|| ApiError::unknown_param(segments[0]))?;
            let mut shown = segments[0].to_string();
            for segment in &segments[1..] {
                shown.push_str(&format!("[{segment}]"));
                let next = if let Some(field) = decl.f.as_ref().and_then(|f| f.get(*segment)) {
                    Some(field)
                } else if segment.is_empty() || is_index(segment) {
                    decl.a.as_deref()
                } else {
                    decl.m.as_deref()
                };
                decl = next.ok_or_else(|| ApiError::unknown_param(&shown))?;
            }
            check_scalar(decl, key, value)?;
            let (name, rest) = segments.split_first().expect("non-empty key");
            if rest.is_empty() {
                tree.insert(name.to_string(), Value::String(value.clone()));
            } else {
                let child = tree
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !child.is_object() {
                    *child = Value::Object(Map::new());
                }
                if let Value::Object(map) = child {
                    insert(map, rest, value);
                }
            }
        }
        let tree: Map<String, Value> = tree
            .into_iter()
            .map(|(k, v)| {
                let v = finish(v, op.params.get(&k));
                (k, v)
            })
            .collect();
        for required in &op.required {
            if !tree.contains_key(required) {
                return Err(ApiError::missing_param(required));
            }
        }
        Ok(Params { tree })
    }

    /// The nested parameters, for comparing two requests (idempotency).
    pub fn tree(&self) -> &Map<String, Value> {
        &self.tree
    }

    pub fn has(&self, name: &str) -> bool {
        self.tree.contains_key(name)
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.tree.get(name)
    }

    /// A nested value: `at(&["card_present", "number"])`.
    pub fn at(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut value = self.tree.get(*first)?;
        for segment in rest {
            value = value.get(*segment)?;
        }
        Some(value)
    }

    /// A top-level string; an empty string (Stripe's "unset") is `None`.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.at_str(&[name])
    }

    pub fn at_str(&self, path: &[&str]) -> Option<&str> {
        self.at(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// An integer parameter (its syntax was validated against the declaration).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.at_int(&[name])
    }

    pub fn at_int(&self, path: &[&str]) -> Option<i64> {
        self.at_str(path).and_then(|s| s.parse().ok())
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.at_bool(&[name])
    }

    pub fn at_bool(&self, path: &[&str]) -> Option<bool> {
        self.at_str(path).map(|s| s == "true")
    }

    /// An array of strings (`a[]=x&a[]=y` or `a[0]=x&a[1]=y`).
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        match self.tree.get(name)? {
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            Value::String(s) if s.is_empty() => Some(Vec::new()),
            _ => None,
        }
    }

    /// `expand[]` paths.
    pub fn expand(&self) -> Vec<String> {
        self.strings("expand").unwrap_or_default()
    }

    /// `metadata[k]=v` entries; an empty value means "delete this key", and `metadata=` alone
    /// clears everything (`Some(None)`).
    pub fn metadata(&self) -> Option<MetadataUpdate> {
        self.metadata_at(&["metadata"])
    }

    pub fn metadata_at(&self, path: &[&str]) -> Option<MetadataUpdate> {
        match self.at(path)? {
            Value::Object(map) => Some(MetadataUpdate::Merge(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            )),
            Value::String(s) if s.is_empty() => Some(MetadataUpdate::Clear),
            _ => None,
        }
    }
}

/// A change to an object's metadata.
pub(crate) enum MetadataUpdate {
    Clear,
    Merge(Vec<(String, String)>),
}

impl MetadataUpdate {
    pub fn apply(self, metadata: &mut BTreeMap<String, String>) {
        match self {
            MetadataUpdate::Clear => metadata.clear(),
            MetadataUpdate::Merge(entries) => {
                for (k, v) in entries {
                    if v.is_empty() {
                        metadata.remove(&k);
                    } else {
                        metadata.insert(k, v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(op: &str, body: &str) -> Result<Params, ApiError> {
        Params::parse(operation(op), &Params::pairs(body.as_bytes()))
    }

    #[test]
    fn both_array_syntaxes_build_the_same_array() {
        let a = parse(
            "POST /v1/payment_intents",
            "amount=100&currency=usd&allowed_payment_method_types[]=card_present&allowed_payment_method_types[]=interac_present",
        )
        .unwrap();
        let b = parse(
            "POST /v1/payment_intents",
            "amount=100&currency=usd&allowed_payment_method_types[1]=interac_present&allowed_payment_method_types[0]=card_present",
        )
        .unwrap();
        assert_eq!(
            a.strings("allowed_payment_method_types").unwrap(),
            vec!["card_present", "interac_present"]
        );
        assert_eq!(a.tree(), b.tree());
    }

    #[test]
    fn payment_method_types_is_no_longer_writable() {
        let op = operation("POST /v1/payment_intents");
        let pairs = Params::pairs(b"amount=100&currency=usd&payment_method_types[]=card_present");
        let err = Params::parse(op, &pairs).unwrap_err();
        assert_eq!(
            err.code.as_deref(),
            Some("payment_method_types_no_longer_supported")
        );
        let pairs =
            Params::pairs(b"amount=100&currency=usd&allowed_payment_method_types[]=card_present");
        assert!(Params::parse(op, &pairs).is_ok());
    }

    #[test]
    fn unknown_nested_parameter_is_named() {
        let err = parse(
            "POST /v1/test_helpers/terminal/readers/{reader}/present_payment_method",
            "card_present[numbr]=4242",
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("card_present[numbr]"));
        assert_eq!(err.code.as_deref(), Some("parameter_unknown"));
    }

    #[test]
    fn types_and_required_are_checked() {
        let err = parse("POST /v1/payment_intents", "amount=abc&currency=usd").unwrap_err();
        assert_eq!(err.code.as_deref(), Some("parameter_invalid_integer"));
        let err = parse("POST /v1/payment_intents", "amount=100").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("currency"));
        let err = parse(
            "POST /v1/payment_intents",
            "amount=100&currency=usd&capture_method=later",
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("capture_method"));
        let ok = parse(
            "POST /v1/customers",
            "metadata[external_customer_id]=c1&expand[]=x",
        )
        .unwrap();
        assert_eq!(ok.at_str(&["metadata", "external_customer_id"]), Some("c1"));
        assert_eq!(ok.expand(), ["x"]);
    }

    #[test]
    fn arrays_of_objects() {
        let p = parse(
            "POST /v1/checkout/sessions",
            "success_url=x&line_items[0][quantity]=2&line_items[0][price_data][currency]=usd&line_items[1][quantity]=1",
        )
        .unwrap();
        let items = p.value("line_items").unwrap().as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["price_data"]["currency"], "usd");
    }
}
