//! `cards`: saved cards per customer, live or deleted (a deleted card's PaymentMethod was
//! detached at Stripe). A customer has at most one live card per fingerprint and Stripe context.

use super::models::{now, Card};
use super::schema::cards;
use super::{DbConnection, Inserted};
use diesel::prelude::*;

/// Live (not deleted) cards, as `NOT deleted` with no parameter: the predicate of the partial
/// indexes over live cards, which a bound `deleted = $1` cannot use (docs/performance.md).
fn live() -> diesel::dsl::not<cards::deleted> {
    diesel::dsl::not(cards::deleted)
}

/// How a charge names a saved card.
#[derive(Debug, Clone, Copy)]
pub enum CardKey<'a> {
    Id(&'a str),
    PaymentMethod(&'a str),
}

/// Inserts the card; `Duplicate` when the customer has it already live (same fingerprint in the
/// same context) or its PaymentMethod is recorded.
pub fn insert(conn: &mut DbConnection, card: Card) -> QueryResult<Inserted<Card>> {
    let count = insert_or_skip!(conn, diesel::insert_into(cards::table).values(&card))?;
    Ok(Inserted::from_count(count, card))
}

/// Inserts the card in one autocommit statement when nothing else is due, `true` when it did:
/// the account has no webhook endpoint (no `card.saved` to queue with it), the customer has no
/// live card of the same fingerprint saved with no Stripe context (a duplicate the unique index
/// cannot see: its NULL context is distinct from any), and no unique index holds the card (its
/// PaymentMethod, live or deleted; the same fingerprint in the same context). `false`, with
/// nothing written, sends the caller to the checks and the transaction of the full path. (`INSERT
/// INTO cards … SELECT $1, … FROM accounts WHERE id = $2 AND webhook_url IS NULL AND NOT EXISTS
/// (…) ON CONFLICT DO NOTHING`.)
pub fn insert_if_nothing_due(conn: &mut DbConnection, card: &Card) -> QueryResult<bool> {
    use super::schema::accounts;
    use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
    let values = (
        card.id.as_str().into_sql::<Text>(),
        card.account_id.as_str().into_sql::<Text>(),
        card.customer_id.as_str().into_sql::<Text>(),
        card.stripe_payment_method_id.as_str().into_sql::<Text>(),
        card.fingerprint.as_str().into_sql::<Text>(),
        card.brand.as_str().into_sql::<Text>(),
        card.last4.as_str().into_sql::<Text>(),
        card.exp_month.into_sql::<BigInt>(),
        card.exp_year.into_sql::<BigInt>(),
        card.source_payment_id
            .as_deref()
            .into_sql::<Nullable<Text>>(),
        card.deleted.into_sql::<Bool>(),
        card.created_at.into_sql::<Timestamp>(),
        card.updated_at.into_sql::<Timestamp>(),
        card.stripe_context.as_deref().into_sql::<Nullable<Text>>(),
    );
    let same_without_context = cards::table
        .filter(cards::customer_id.eq(&card.customer_id))
        .filter(live())
        .filter(cards::fingerprint.eq(&card.fingerprint))
        .filter(cards::stripe_context.is_null());
    let row = accounts::table
        .filter(accounts::id.eq(&card.account_id))
        .filter(accounts::webhook_url.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(same_without_context)))
        .select(values);
    let insert = diesel::insert_into(cards::table).values(row).into_columns((
        cards::id,
        cards::account_id,
        cards::customer_id,
        cards::stripe_payment_method_id,
        cards::fingerprint,
        cards::brand,
        cards::last4,
        cards::exp_month,
        cards::exp_year,
        cards::source_payment_id,
        cards::deleted,
        cards::created_at,
        cards::updated_at,
        cards::stripe_context,
    ));
    Ok(insert_or_skip!(conn, insert)? == 1)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Card> {
    on_backend!(conn, conn => {
        cards::table.find(id).select(Card::as_select()).first(conn)
    })
}

/// What stands in the way of saving `card`, in one statement: a deleted card with its
/// PaymentMethod (detached at Stripe: it cannot be saved again), else a live card of the same
/// customer with the same PaymentMethod, or with the same fingerprint in the same Stripe context
/// (NULL: the current one, where new cards are saved) — the card to return instead.
pub fn find_in_the_way(conn: &mut DbConnection, card: &Card) -> QueryResult<Option<Card>> {
    on_backend!(conn, conn => {
        let deleted_method = cards::stripe_payment_method_id
            .eq(&card.stripe_payment_method_id)
            .and(cards::deleted);
        let same_live = cards::customer_id
            .eq(&card.customer_id)
            .and(live())
            .and(
                cards::fingerprint
                    .eq(&card.fingerprint)
                    .and(
                        cards::stripe_context
                            .eq(&card.stripe_context)
                            .or(cards::stripe_context.is_null()),
                    )
                    .or(cards::stripe_payment_method_id.eq(&card.stripe_payment_method_id)),
            );
        cards::table
            .filter(deleted_method.or(same_live))
            .order(cards::deleted.desc())
            .select(Card::as_select())
            .first(conn)
            .optional()
    })
}

/// The card saved from this payment (live, else deleted), if any.
pub fn find_saved_from(
    conn: &mut DbConnection,
    customer_id: &str,
    payment_id: &str,
) -> QueryResult<Option<Card>> {
    on_backend!(conn, conn => {
        cards::table
            .filter(cards::customer_id.eq(customer_id))
            .filter(cards::source_payment_id.eq(payment_id))
            .order(cards::deleted.asc())
            .select(Card::as_select())
            .first(conn)
            .optional()
    })
}

/// The customer's live card named by `key`.
pub fn find_live(
    conn: &mut DbConnection,
    customer_id: &str,
    key: CardKey<'_>,
) -> QueryResult<Option<Card>> {
    on_backend!(conn, conn => {
        let query = cards::table
            .filter(cards::customer_id.eq(customer_id))
            .filter(live())
            .select(Card::as_select())
            .into_boxed();
        let query = match key {
            CardKey::Id(id) => query.filter(cards::id.eq(id)),
            CardKey::PaymentMethod(pm) => query.filter(cards::stripe_payment_method_id.eq(pm)),
        };
        query.first(conn).optional()
    })
}

/// The live card of any customer with this PaymentMethod.
pub fn find_live_by_payment_method(
    conn: &mut DbConnection,
    payment_method: &str,
) -> QueryResult<Option<Card>> {
    cards::table
        .filter(cards::stripe_payment_method_id.eq(payment_method))
        .filter(live())
        .select(Card::as_select())
        .first(conn)
        .optional()
}

/// The customer's live cards, newest first.
pub fn list_live(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Vec<Card>> {
    on_backend!(conn, conn => {
        cards::table
            .filter(cards::customer_id.eq(customer_id))
            .filter(live())
            .order(cards::id.desc())
            .select(Card::as_select())
            .load(conn)
    })
}

/// The account's card with this id (live or deleted).
pub fn find_of_account(
    conn: &mut DbConnection,
    account_id: &str,
    id: &str,
) -> QueryResult<Option<Card>> {
    cards::table
        .filter(cards::account_id.eq(account_id))
        .filter(cards::id.eq(id))
        .select(Card::as_select())
        .first(conn)
        .optional()
}

pub fn mark_deleted(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(cards::table.find(id))
        .set((cards::deleted.eq(true), cards::updated_at.eq(now())))
        .execute(conn)
        .map(|_| ())
}

/// Records `context` on the account's cards that have none.
pub fn stamp_context(conn: &mut DbConnection, account_id: &str, context: &str) -> QueryResult<()> {
    diesel::update(
        cards::table
            .filter(cards::account_id.eq(account_id))
            .filter(cards::stripe_context.is_null()),
    )
    .set(cards::stripe_context.eq(context))
    .execute(conn)
    .map(|_| ())
}
