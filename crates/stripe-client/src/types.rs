//! Plumbing shared by Stripe's objects: expandable fields, lists and search results, metadata,
//! addresses, string enums that tolerate values newer than this client, and secret fields.
//!
//! Objects are decoded with serde and ignore fields they do not know, so a newer API version
//! adding fields never breaks decoding. Nothing here buffers JSON into an intermediate value
//! (serde's untagged enums would, and lose exact numbers under `arbitrary_precision`).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::form::Form;
use crate::secret::Secret;

/// Stripe metadata: string keys and values. Ordered, so a request encodes the same way every time.
pub type Metadata = BTreeMap<String, String>;

/// A field Stripe returns as an id, or as the whole object when the request asked to expand it.
#[derive(Debug, Clone)]
pub enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

/// Objects that carry their own id, so an [`Expandable`] can answer `.id()` either way.
pub trait HasId {
    fn id(&self) -> &str;
}

impl<T: HasId> Expandable<T> {
    /// The id, whether or not the object was expanded.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    /// The expanded object, if it was expanded.
    pub fn as_object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }

    /// The expanded object, if it was expanded.
    pub fn into_object(self) -> Option<T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(*object),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Expandable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpandableVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ExpandableVisitor<T> {
            type Value = Expandable<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object id or an expanded object")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Expandable::Id(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Expandable::Id(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|object| Expandable::Object(Box::new(object)))
            }
        }

        deserializer.deserialize_any(ExpandableVisitor(PhantomData))
    }
}

/// A page of a list (`"object": "list"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    #[serde(default)]
    pub url: Option<String>,
}

/// A page of search results (`"object": "search_result"`); pass `next_page` as
/// [`SearchParams::page`] for the next one.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct SearchResult<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    #[serde(default)]
    pub next_page: Option<String>,
    #[serde(default)]
    pub total_count: Option<u64>,
    #[serde(default)]
    pub url: Option<String>,
}

/// Cursor pagination for list calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListParams<'a> {
    /// 1–100; Stripe's default is 10.
    pub limit: Option<u32>,
    pub starting_after: Option<&'a str>,
    pub ending_before: Option<&'a str>,
    pub expand: &'a [&'a str],
}

impl ListParams<'_> {
    pub(crate) fn encode(&self, f: &mut Form) {
        f.push_opt("limit", self.limit);
        f.push_opt("starting_after", self.starting_after);
        f.push_opt("ending_before", self.ending_before);
        f.push_expand(self.expand);
    }
}

/// A search call: `query` in Stripe's search query language (see [`metadata_query`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchParams<'a> {
    pub query: &'a str,
    /// 1–100; Stripe's default is 10.
    pub limit: Option<u32>,
    /// `next_page` of the previous result.
    pub page: Option<&'a str>,
    pub expand: &'a [&'a str],
}

impl SearchParams<'_> {
    pub(crate) fn encode(&self, f: &mut Form) {
        f.push("query", self.query);
        f.push_opt("limit", self.limit);
        f.push_opt("page", self.page);
        f.push_expand(self.expand);
    }
}

/// A search query matching one metadata entry exactly: `metadata['key']:'value'`, with quotes
/// and backslashes escaped as Stripe's query language requires.
pub fn metadata_query(key: &str, value: &str) -> String {
    fn quoted(out: &mut String, s: &str) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('\'');
    }
    let mut q = String::with_capacity(key.len() + value.len() + 16);
    q.push_str("metadata[");
    quoted(&mut q, key);
    q.push_str("]:");
    quoted(&mut q, value);
    q
}

/// A postal address as Stripe returns it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// Decodes `null` or a missing field as the type's default (Stripe sends `metadata: null` on some
/// objects).
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// Decodes a string into a [`Secret`].
pub(crate) fn secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Secret<String>, D::Error> {
    String::deserialize(deserializer).map(Secret::new)
}

/// Decodes an optional string into a [`Secret`].
pub(crate) fn opt_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(|s| s.map(Secret::new))
}

/// Declares a Stripe string enum: known values as variants plus `Unknown(Box<str>)` keeping any value
/// newer than this client, so decoding never fails on it and re-sending it round-trips.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know (newer API version).
            Unknown(Box<str>),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $value,)+
                    $name::Unknown(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other.into()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::form::FormValue for &$name {
            fn write_to(&self, out: &mut String) {
                self.as_str().write_to(out)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct EnumVisitor;
                impl<'de> ::serde::de::Visitor<'de> for EnumVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                }
                deserializer.deserialize_str(EnumVisitor)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Thing {
        id: String,
        amount: i64,
    }

    impl HasId for Thing {
        fn id(&self) -> &str {
            &self.id
        }
    }

    string_enum! {
        pub enum Colour {
            Red = "red",
            LightBlue = "light_blue",
        }
    }

    #[derive(Debug, Deserialize)]
    struct Holder {
        thing: Option<Expandable<Thing>>,
        #[serde(default, deserialize_with = "null_default")]
        metadata: Metadata,
        colour: Colour,
    }

    #[test]
    fn expandable_id_object_and_null() {
        let h: Holder =
            serde_json::from_str(r#"{"thing":"th_1","metadata":null,"colour":"red"}"#).unwrap();
        let thing = h.thing.unwrap();
        assert_eq!(thing.id(), "th_1");
        assert!(thing.as_object().is_none());
        assert!(h.metadata.is_empty());
        assert_eq!(h.colour, Colour::Red);

        let h: Holder = serde_json::from_str(
            r#"{"thing":{"id":"th_2","amount":12345678901234,"new_field":[1.5]},"colour":"light_blue","extra":{}}"#,
        )
        .unwrap();
        let thing = h.thing.unwrap();
        assert_eq!(thing.id(), "th_2");
        assert_eq!(thing.into_object().unwrap().amount, 12345678901234);
        assert_eq!(h.colour.as_str(), "light_blue");

        let h: Holder = serde_json::from_str(r#"{"thing":null,"colour":"ultraviolet"}"#).unwrap();
        assert!(h.thing.is_none());
        assert_eq!(h.colour, Colour::Unknown("ultraviolet".into()));
        assert_eq!(h.colour.to_string(), "ultraviolet");
    }

    #[test]
    fn expandable_decodes_from_a_json_value_too() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"thing":{"id":"th_3","amount":5},"colour":"red"}"#).unwrap();
        let h = Holder::deserialize(&v).unwrap();
        assert_eq!(h.thing.unwrap().into_object().unwrap().amount, 5);
    }

    #[test]
    fn metadata_query_escapes() {
        assert_eq!(
            metadata_query("external_customer_id", "cus'1\\"),
            r"metadata['external_customer_id']:'cus\'1\\'"
        );
    }
}
