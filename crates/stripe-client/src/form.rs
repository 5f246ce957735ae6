//! Stripe's form encoding (`application/x-www-form-urlencoded` with bracketed keys).
//!
//! Stripe reads nested parameters from bracketed keys, as its own libraries write them:
//! `metadata[order_id]=42`, `payment_method_types[0]=card_present`, `expand[]=latest_charge`,
//! `process_config[skip_tipping]=true`, `line_items[0][price_data][currency]=usd`. Brackets are
//! written literally; every name segment and value is percent-encoded (so a `[` inside a metadata
//! key cannot open a new level). The same encoder builds POST bodies and GET query strings.
//!
//! Parameters are written straight into one buffer, in the order they are pushed: a request is
//! encoded exactly once and the same bytes are sent on every retry.

use std::fmt::Write as _;

use super::types::Metadata;

/// A form being encoded: `k=v&k2=v2`, without a leading `?`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    buf: String,
}

impl Form {
    pub fn new() -> Self {
        Form::default()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded form.
    pub fn as_str(&self) -> &str {
        &self.buf
    }

    pub fn into_string(self) -> String {
        self.buf
    }

    /// Starts the parameter `name`; chain [`Key::field`] / [`Key::index`] / [`Key::append`] for
    /// nested keys and finish with [`Key::value`].
    #[must_use = "a key is only written completely by .value()"]
    pub fn key(&mut self, name: &str) -> Key<'_> {
        if !self.buf.is_empty() {
            self.buf.push('&');
        }
        self.buf
            .extend(form_urlencoded::byte_serialize(name.as_bytes()));
        Key { form: self }
    }

    /// `name=value`.
    pub fn push(&mut self, name: &str, value: impl FormValue) {
        self.key(name).value(value);
    }

    /// `name=value` when `value` is `Some`.
    pub fn push_opt<V: FormValue>(&mut self, name: &str, value: Option<V>) {
        if let Some(value) = value {
            self.push(name, value);
        }
    }

    /// `name[key]=value` for every entry, in key order.
    pub fn push_map(&mut self, name: &str, map: &Metadata) {
        for (k, v) in map {
            self.key(name).field(k).value(v.as_str());
        }
    }

    /// `name[key]=value` for every entry when `map` is `Some`.
    pub fn push_map_opt(&mut self, name: &str, map: Option<&Metadata>) {
        if let Some(map) = map {
            self.push_map(name, map);
        }
    }

    /// `name[0]=a&name[1]=b`: an indexed array, as Stripe's libraries send lists.
    pub fn push_list<V: FormValue + Copy>(&mut self, name: &str, values: &[V]) {
        for (i, v) in values.iter().enumerate() {
            self.key(name).index(i).value(*v);
        }
    }

    /// `expand[]=a&expand[]=b`.
    pub fn push_expand(&mut self, expand: &[&str]) {
        for field in expand {
            self.key("expand").append().value(*field);
        }
    }
}

/// A key being written into a [`Form`]; see [`Form::key`].
pub struct Key<'f> {
    form: &'f mut Form,
}

impl<'f> Key<'f> {
    /// `[name]`
    #[must_use = "a key is only written completely by .value()"]
    pub fn field(self, name: &str) -> Key<'f> {
        self.form.buf.push('[');
        self.form
            .buf
            .extend(form_urlencoded::byte_serialize(name.as_bytes()));
        self.form.buf.push(']');
        self
    }

    /// `[index]`
    #[must_use = "a key is only written completely by .value()"]
    pub fn index(self, index: usize) -> Key<'f> {
        // Writing into a String cannot fail.
        let _ = write!(self.form.buf, "[{index}]");
        self
    }

    /// `[]`
    #[must_use = "a key is only written completely by .value()"]
    pub fn append(self) -> Key<'f> {
        self.form.buf.push_str("[]");
        self
    }

    /// `=value`, completing the parameter.
    pub fn value(self, value: impl FormValue) {
        self.form.buf.push('=');
        value.write_to(&mut self.form.buf);
    }
}

/// A scalar that can be a form value.
pub trait FormValue {
    /// Appends the percent-encoded value.
    fn write_to(&self, out: &mut String);
}

impl FormValue for &str {
    fn write_to(&self, out: &mut String) {
        out.extend(form_urlencoded::byte_serialize(self.as_bytes()));
    }
}

impl FormValue for bool {
    fn write_to(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

macro_rules! integer_form_value {
    ($($t:ty),*) => {$(
        impl FormValue for $t {
            fn write_to(&self, out: &mut String) {
                // Writing into a String cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

integer_form_value!(i64, u64, u32);

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(form: &Form) -> Vec<(String, String)> {
        form_urlencoded::parse(form.as_str().as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn scalars_and_escaping() {
        let mut f = Form::new();
        f.push("amount", 1299i64);
        f.push("currency", "usd");
        f.push("confirm", true);
        f.push("description", "Café & co = 100%");
        f.push_opt::<&str>("customer", None);
        f.push_opt("receipt_email", Some("a+b@example.com"));
        assert_eq!(
            f.as_str(),
            "amount=1299&currency=usd&confirm=true&description=Caf%C3%A9+%26+co+%3D+100%25\
             &receipt_email=a%2Bb%40example.com"
        );
        assert_eq!(decode(&f)[3].1, "Café & co = 100%");
    }

    #[test]
    fn metadata_is_bracketed_in_key_order_and_keys_are_escaped() {
        let mut meta = Metadata::new();
        meta.insert("order_id".into(), "42".into());
        meta.insert("a b[c]".into(), "x&y".into());
        let mut f = Form::new();
        f.push_map("metadata", &meta);
        assert_eq!(
            f.as_str(),
            "metadata[a+b%5Bc%5D]=x%26y&metadata[order_id]=42"
        );
        assert_eq!(
            decode(&f),
            vec![
                ("metadata[a b[c]]".to_string(), "x&y".to_string()),
                ("metadata[order_id]".to_string(), "42".to_string()),
            ]
        );
    }

    #[test]
    fn arrays_are_indexed_and_expand_is_appended() {
        let mut f = Form::new();
        f.push_list("payment_method_types", &["card_present", "interac_present"]);
        f.push_expand(&["latest_charge", "customer"]);
        assert_eq!(
            f.as_str(),
            "payment_method_types[0]=card_present&payment_method_types[1]=interac_present\
             &expand[]=latest_charge&expand[]=customer"
        );
    }

    #[test]
    fn nested_objects() {
        let mut f = Form::new();
        f.key("process_config").field("skip_tipping").value(true);
        f.key("address").field("line1").value("1 Main St");
        f.key("line_items")
            .index(0)
            .field("price_data")
            .field("product_data")
            .field("name")
            .value("T-shirt");
        f.key("line_items").index(0).field("quantity").value(2u64);
        assert_eq!(
            f.as_str(),
            "process_config[skip_tipping]=true&address[line1]=1+Main+St\
             &line_items[0][price_data][product_data][name]=T-shirt&line_items[0][quantity]=2"
        );
    }

    #[test]
    fn empty_form_and_empty_collections() {
        let mut f = Form::new();
        f.push_map("metadata", &Metadata::new());
        f.push_list::<&str>("payment_method_types", &[]);
        f.push_expand(&[]);
        f.push_map_opt("metadata", None);
        assert!(f.is_empty());
        assert_eq!(f.into_string(), "");
    }
}
