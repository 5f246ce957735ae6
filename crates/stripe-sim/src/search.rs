//! Stripe's Search Query Language, as far as the simulated search endpoints need it:
//! `field:'value'`, `field~'sub'`, numeric `>`, `>=`, `<`, `<=`, `metadata['key']:'value'`,
//! negation with `-`, `null`, and clauses joined by `AND` or by `OR` (not both).

use super::error::ApiError;
use super::params::Params;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Num(i64),
    Null,
}

#[derive(Debug)]
enum Field {
    Plain(String),
    Metadata(String),
}

#[derive(Debug)]
struct Clause {
    negate: bool,
    field: Field,
    op: Op,
    value: Literal,
}

/// A parsed query.
#[derive(Debug)]
pub(crate) struct Query {
    clauses: Vec<Clause>,
    any: bool,
}

/// A field value of a searchable object.
pub(crate) enum FieldValue {
    Str(String),
    Num(i64),
    Null,
}

/// An object the search endpoints can filter.
pub(crate) trait Searchable {
    fn field(&self, name: &str) -> FieldValue;
    fn metadata(&self) -> &BTreeMap<String, String>;
}

fn invalid(query: &str, why: &str) -> ApiError {
    ApiError::invalid(format!("Invalid query: {why} (query: {query})")).with_param("query")
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.text[self.pos..].starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.text[self.pos..].chars().next() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        &self.text[start..self.pos]
    }

    /// A single- or double-quoted string with `\` escapes.
    fn quoted(&mut self) -> Option<String> {
        let quote = self.text[self.pos..].chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, escaped) = chars.next()?;
                    out.push(escaped);
                }
                c if c == quote => {
                    self.pos += i + 1;
                    return Some(out);
                }
                c => out.push(c),
            }
        }
        None
    }
}

impl Query {
    pub fn parse(text: &str, fields: &[&str]) -> Result<Query, ApiError> {
        let mut lexer = Lexer { text, pos: 0 };
        let mut clauses = Vec::new();
        let mut joiner: Option<&str> = None;
        loop {
            lexer.skip_ws();
            let negate = lexer.eat("-");
            let name = lexer.ident();
            if name.is_empty() {
                return Err(invalid(text, "expected a field name"));
            }
            let field = if name == "metadata" {
                if !lexer.eat("[") {
                    return Err(invalid(text, "metadata needs a key: metadata['key']"));
                }
                let key = lexer
                    .quoted()
                    .ok_or_else(|| invalid(text, "metadata key must be quoted"))?;
                if !lexer.eat("]") {
                    return Err(invalid(text, "expected ]"));
                }
                Field::Metadata(key)
            } else if fields.contains(&name) {
                Field::Plain(name.to_string())
            } else {
                return Err(invalid(text, &format!("field '{name}' is not supported")));
            };
            let op = if lexer.eat(">=") {
                Op::Gte
            } else if lexer.eat("<=") {
                Op::Lte
            } else if lexer.eat(">") {
                Op::Gt
            } else if lexer.eat("<") {
                Op::Lt
            } else if lexer.eat(":") {
                Op::Eq
            } else if lexer.eat("~") {
                Op::Contains
            } else {
                return Err(invalid(text, "expected one of : ~ > >= < <="));
            };
            let value = if let Some(s) = lexer.quoted() {
                Literal::Str(s)
            } else {
                let word = lexer.ident();
                if word == "null" {
                    Literal::Null
                } else if let Ok(n) = word.parse::<i64>() {
                    Literal::Num(n)
                } else {
                    return Err(invalid(
                        text,
                        "values must be quoted strings, numbers or null",
                    ));
                }
            };
            if op == Op::Contains && !matches!(&value, Literal::Str(s) if s.chars().count() >= 3) {
                return Err(invalid(text, "~ needs a string of at least 3 characters"));
            }
            clauses.push(Clause {
                negate,
                field,
                op,
                value,
            });
            lexer.skip_ws();
            if lexer.pos == text.len() {
                break;
            }
            let word = lexer.ident();
            let word = match word {
                "AND" | "and" => "AND",
                "OR" | "or" => "OR",
                _ => return Err(invalid(text, "expected AND or OR between clauses")),
            };
            if joiner.is_some_and(|j| j != word) {
                return Err(invalid(text, "a query cannot combine AND and OR"));
            }
            joiner = Some(word);
        }
        if clauses.len() > 10 {
            return Err(invalid(text, "at most 10 clauses are allowed"));
        }
        Ok(Query {
            clauses,
            any: joiner == Some("OR"),
        })
    }

    pub fn matches(&self, object: &dyn Searchable) -> bool {
        let test = |clause: &Clause| {
            let actual = match &clause.field {
                Field::Plain(name) => object.field(name),
                Field::Metadata(key) => object
                    .metadata()
                    .get(key)
                    .map_or(FieldValue::Null, |v| FieldValue::Str(v.clone())),
            };
            let hit = match (&actual, clause.op, &clause.value) {
                (FieldValue::Null, Op::Eq, Literal::Null) => true,
                (_, _, Literal::Null) | (FieldValue::Null, _, _) => false,
                (FieldValue::Str(a), Op::Eq, Literal::Str(b)) => a == b,
                (FieldValue::Str(a), Op::Contains, Literal::Str(b)) => {
                    a.to_lowercase().contains(&b.to_lowercase())
                }
                (FieldValue::Num(a), op, Literal::Num(b)) => match op {
                    Op::Eq => a == b,
                    Op::Gt => a > b,
                    Op::Gte => a >= b,
                    Op::Lt => a < b,
                    Op::Lte => a <= b,
                    Op::Contains => false,
                },
                (FieldValue::Num(a), Op::Eq, Literal::Str(b)) => a.to_string() == *b,
                (FieldValue::Str(a), Op::Eq, Literal::Num(b)) => *a == b.to_string(),
                _ => false,
            };
            hit != clause.negate
        };
        if self.any {
            self.clauses.iter().any(test)
        } else {
            self.clauses.iter().all(test)
        }
    }
}

/// A `search_result` page over `items` (newest first), paginated by `limit` and `page`.
pub(crate) fn result(items: Vec<Value>, params: &Params, url: &str) -> Result<Value, ApiError> {
    let limit = super::state::page_limit(params)?;
    let offset = match params.str("page") {
        None => 0,
        Some(token) => token
            .strip_prefix("page_")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| ApiError::invalid("Invalid page token.").with_param("page"))?,
    };
    let total = items.len();
    let end = (offset + limit).min(total);
    let data: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let has_more = end < total;
    Ok(json!({
        "object": "search_result",
        "data": data,
        "has_more": has_more,
        "next_page": if has_more { json!(format!("page_{end}")) } else { Value::Null },
        "url": url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Obj(BTreeMap<String, String>, i64);

    impl Searchable for Obj {
        fn field(&self, name: &str) -> FieldValue {
            match name {
                "amount" => FieldValue::Num(self.1),
                _ => FieldValue::Null,
            }
        }
        fn metadata(&self) -> &BTreeMap<String, String> {
            &self.0
        }
    }

    #[test]
    fn metadata_and_numbers() {
        let obj = Obj(
            BTreeMap::from([("external_customer_id".to_string(), "c 'x'".to_string())]),
            1299,
        );
        let q = Query::parse(
            r"metadata['external_customer_id']:'c \'x\'' AND amount>1000",
            &["amount"],
        )
        .unwrap();
        assert!(q.matches(&obj));
        let q = Query::parse(
            "metadata['external_customer_id']:'other' OR amount:1299",
            &["amount"],
        )
        .unwrap();
        assert!(q.matches(&obj));
        let q = Query::parse("-amount:1299", &["amount"]).unwrap();
        assert!(!q.matches(&obj));
        assert!(Query::parse("a:'x' AND b:'y' OR c:'z'", &["a", "b", "c"]).is_err());
        assert!(Query::parse("email:'x'", &["amount"]).is_err());
        assert!(Query::parse("metadata['k']:null", &[])
            .unwrap()
            .matches(&Obj(BTreeMap::new(), 0)));
    }
}
