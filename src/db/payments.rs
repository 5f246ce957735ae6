//! `payments`: one row per payment, written by its creation ([`insert`]) and afterwards only
//! through the state machine ([`record_state`], under [`lock`]).

use super::models::{Account, Card, Customer, Payment, PaymentHistory};
use super::schema::{accounts, cards, customers, payment_history, payments};
use super::{update_cached, with_first, DbConnection, Inserted};
use crate::money::MinorUnits;
use crate::payment_state::PaymentStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Inserts the row; `Duplicate` when the account already has a payment with this
/// `external_transaction_id` (or this PaymentIntent is recorded).
pub fn insert(conn: &mut DbConnection, row: Payment) -> QueryResult<Inserted<Payment>> {
    let count = insert_or_skip!(
        conn,
        diesel::insert_into(payments::table).values(row.clone())
    )?;
    Ok(Inserted::from_count(count, row))
}

/// [`insert`], and `entry` appended to the new row's history (nothing when the row is a
/// duplicate): on PostgreSQL in one statement, `WITH first AS (INSERT INTO payments … ON CONFLICT
/// DO NOTHING RETURNING id) INSERT INTO payment_history … SELECT … FROM first`.
pub fn insert_with_history(
    conn: &mut DbConnection,
    row: Payment,
    entry: &PaymentHistory,
) -> QueryResult<Inserted<Payment>> {
    match conn {
        DbConnection::Pg(pg) => {
            let insert = diesel::insert_into(payments::table)
                .values(row.clone())
                .on_conflict_do_nothing()
                .returning(payments::id);
            let count = with_first(insert, HistoryOfFirst(entry)).execute(pg)?;
            Ok(Inserted::from_count(count, row))
        }
        DbConnection::Sqlite(_) => {
            let inserted = insert(conn, row)?;
            if let Inserted::New(_) = inserted {
                super::payment_history::insert(conn, entry)?;
            }
            Ok(inserted)
        }
    }
}

/// `INSERT INTO payment_history (…) SELECT <the entry> FROM first`: one entry per row `first`
/// returned (see [`insert_with_history`]).
struct HistoryOfFirst<'a>(&'a PaymentHistory);

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for HistoryOfFirst<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        type Of<C> = <C as Expression>::SqlType;
        let e = self.0;
        out.push_sql(
            "INSERT INTO payment_history (id, payment_id, action, status, amount, actor, \
             created_at, detail) SELECT ",
        );
        out.push_bind_param::<Of<payment_history::id>, _>(&e.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::payment_id>, _>(&e.payment_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::action>, _>(&e.action)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::status>, _>(&e.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::amount>, _>(&e.amount)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::actor>, _>(&e.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::created_at>, _>(&e.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Of<payment_history::detail>, _>(&e.detail)?;
        out.push_sql(" FROM first");
        Ok(())
    }
}

impl diesel::query_builder::QueryId for HistoryOfFirst<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Payment> {
    on_backend!(conn, conn => {
        payments::table
            .find(id)
            .select(Payment::as_select())
            .first(conn)
    })
}

/// The payment row, locked until the end of the transaction (PostgreSQL `FOR UPDATE`; SQLite's
/// write transactions already exclude each other).
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<Payment> {
    match conn {
        DbConnection::Pg(pg) => payments::table
            .find(id)
            .select(Payment::as_select())
            .for_update()
            .first(pg),
        DbConnection::Sqlite(sqlite) => payments::table
            .find(id)
            .select(Payment::as_select())
            .first(sqlite),
    }
}

/// [`lock`], and whether the payment's account has a webhook endpoint, in the same statement: a
/// change with no one to tell then queues nothing without reading the account again (one round
/// trip fewer per change on PostgreSQL). Only the payment row is locked.
pub fn lock_with_webhook(conn: &mut DbConnection, id: &str) -> QueryResult<(Payment, bool)> {
    let has_webhook = || {
        diesel::dsl::exists(
            accounts::table
                .filter(accounts::id.eq(payments::account_id))
                .filter(accounts::webhook_url.is_not_null()),
        )
    };
    match conn {
        DbConnection::Pg(pg) => payments::table
            .find(id)
            .select((Payment::as_select(), has_webhook()))
            .for_update()
            .first(pg),
        DbConnection::Sqlite(sqlite) => payments::table
            .find(id)
            .select((Payment::as_select(), has_webhook()))
            .first(sqlite),
    }
}

/// The account (by the caller's `external_account_id`), its payment with this PaymentIntent id
/// and the payment's customer, in one statement: one probe of the unique
/// `stripe_payment_intent_id` index, then the account's and the customer's primary keys. `None`
/// when the account or the payment is unknown, or the payment is another account's.
pub fn find_viewed_by_intent(
    conn: &mut DbConnection,
    external_account_id: &str,
    intent_id: &str,
) -> QueryResult<Option<(Account, Payment, Option<Customer>)>> {
    on_backend!(conn, conn => {
        payments::table
            .inner_join(accounts::table.on(accounts::id.eq(payments::account_id)))
            .left_join(customers::table.on(customers::id.nullable().eq(payments::customer_id)))
            .filter(payments::stripe_payment_intent_id.eq(intent_id))
            .filter(accounts::external_account_id.eq(external_account_id))
            .select((
                Account::as_select(),
                Payment::as_select(),
                Option::<Customer>::as_select(),
            ))
            .first(conn)
            .optional()
    })
}

/// What a card save reads first: the account, the payment, its customer and the card saved from
/// the payment, as [`find_viewed_by_intent_with_card`] reads them.
pub type ViewedWithCard = (Account, Payment, Option<Customer>, Option<Card>);

/// [`find_viewed_by_intent`], and the card saved from the payment (live, else deleted), in the
/// same statement: the card save's first read. The card is found through `cards_saved_from`
/// (customer, source payment).
pub fn find_viewed_by_intent_with_card(
    conn: &mut DbConnection,
    external_account_id: &str,
    intent_id: &str,
) -> QueryResult<Option<ViewedWithCard>> {
    on_backend!(conn, conn => {
        payments::table
            .inner_join(accounts::table.on(accounts::id.eq(payments::account_id)))
            .left_join(customers::table.on(customers::id.nullable().eq(payments::customer_id)))
            .left_join(
                cards::table.on(cards::customer_id
                    .nullable()
                    .eq(payments::customer_id)
                    .and(cards::source_payment_id.eq(payments::id.nullable()))),
            )
            .filter(payments::stripe_payment_intent_id.eq(intent_id))
            .filter(accounts::external_account_id.eq(external_account_id))
            .order(cards::deleted.asc())
            .select((
                Account::as_select(),
                Payment::as_select(),
                Option::<Customer>::as_select(),
                Option::<Card>::as_select(),
            ))
            .first(conn)
            .optional()
    })
}

/// The account, its payment for an `external_transaction_id` and its customer for an
/// `external_customer_id`, as [`find_for_intent`] reads them.
pub type ForIntent = (Account, Option<Payment>, Option<Customer>);

/// What an intent request reads before it writes, in one statement: the account (by the
/// caller's `external_account_id`), its payment for `external_transaction_id` (an earlier
/// identical request) and its customer for `external_customer_id` (none asked: `None`) — each a
/// probe of a unique index. `None` when the account is unknown.
pub fn find_for_intent(
    conn: &mut DbConnection,
    external_account_id: &str,
    external_transaction_id: &str,
    external_customer_id: Option<&str>,
) -> QueryResult<Option<ForIntent>> {
    // Owned: a join's ON clause is part of the statement's type, which the cache keys as 'static.
    let (account, transaction, customer) = (
        external_account_id.to_string(),
        external_transaction_id.to_string(),
        external_customer_id.map(str::to_string),
    );
    // The payment and the customer are joined on the account's id read by a subquery (a
    // constant to the planner), not on the outer `accounts.id`: so each is one probe of its
    // unique (account_id, external id) index whatever the planner estimates (joined on the outer
    // column, PostgreSQL may scan that index by its second column alone).
    let owner = diesel::alias!(accounts as owner);
    let account_id = || {
        owner
            .filter(
                owner
                    .field(accounts::external_account_id)
                    .eq(account.clone()),
            )
            .select(owner.field(accounts::id))
            .single_value()
    };
    on_backend!(conn, conn => {
        accounts::table
            .left_join(
                payments::table.on(payments::account_id
                    .nullable()
                    .eq(account_id())
                    .and(payments::external_transaction_id.eq(transaction))),
            )
            .left_join(
                customers::table.on(customers::account_id
                    .nullable()
                    .eq(account_id())
                    // `= NULL` matches nothing: no customer asked, none read.
                    .and(customers::external_customer_id.nullable().eq(customer))),
            )
            .filter(accounts::external_account_id.eq(external_account_id))
            .select((
                Account::as_select(),
                Option::<Payment>::as_select(),
                Option::<Customer>::as_select(),
            ))
            .first(conn)
            .optional()
    })
}

/// The account's payment for the caller's `external_transaction_id`.
pub fn find_by_external_id(
    conn: &mut DbConnection,
    account_id: &str,
    external_transaction_id: &str,
) -> QueryResult<Option<Payment>> {
    on_backend!(conn, conn => {
        payments::table
            .filter(payments::account_id.eq(account_id))
            .filter(payments::external_transaction_id.eq(external_transaction_id))
            .select(Payment::as_select())
            .first(conn)
            .optional()
    })
}

/// The account's payment with this PaymentIntent id.
pub fn find_by_intent(
    conn: &mut DbConnection,
    account_id: &str,
    intent_id: &str,
) -> QueryResult<Option<Payment>> {
    // By the unique intent id alone, the account checked here: the only plan is one probe of the
    // unique index (with the account in the query, PostgreSQL may walk the account's payments).
    Ok(find_by_intent_id(conn, intent_id)?.filter(|p| p.account_id == account_id))
}

/// The payment (of any account) with this PaymentIntent id.
pub fn find_by_intent_id(conn: &mut DbConnection, intent_id: &str) -> QueryResult<Option<Payment>> {
    on_backend!(conn, conn => {
        payments::table
            .filter(payments::stripe_payment_intent_id.eq(intent_id))
            .select(Payment::as_select())
            .first(conn)
            .optional()
    })
}

/// A payment whose intent id is not recorded yet, by its account's and its own external ids.
pub fn find_unrecorded(
    conn: &mut DbConnection,
    external_account_id: &str,
    external_transaction_id: &str,
) -> QueryResult<Option<Payment>> {
    on_backend!(conn, conn => {
        // The account as a scalar subquery, so the lookup is one probe of the unique index on
        // (account_id, external_transaction_id) rather than a walk of every unrecorded payment.
        let account_id = accounts::table
            .filter(accounts::external_account_id.eq(external_account_id))
            .select(accounts::id)
            .single_value();
        payments::table
            .filter(payments::account_id.nullable().eq(account_id))
            .filter(payments::external_transaction_id.eq(external_transaction_id))
            .filter(payments::stripe_payment_intent_id.is_null())
            .select(Payment::as_select())
            .first(conn)
            .optional()
    })
}

/// The columns the state machine may change, set to `$after`'s values (see [`record_state`]).
/// The only columns written after the insert: [`record_state_if_unchanged`]'s guard compares
/// every one of them, so a column added here must be added there.
macro_rules! state_of {
    ($after:expr) => {
        (
            payments::stripe_payment_intent_id.eq(&$after.stripe_payment_intent_id),
            payments::status.eq($after.status),
            payments::amount_capturable.eq($after.amount_capturable),
            payments::amount_captured.eq($after.amount_captured),
            payments::amount_refunded.eq($after.amount_refunded),
            payments::stripe_charge_id.eq(&$after.stripe_charge_id),
            payments::failure_code.eq(&$after.failure_code),
            payments::decline_code.eq(&$after.decline_code),
            payments::amount.eq($after.amount),
            payments::amount_tip.eq($after.amount_tip),
            payments::capture_before.eq($after.capture_before),
            payments::incremental_authorization_supported
                .eq($after.incremental_authorization_supported),
            payments::overcapture_supported.eq($after.overcapture_supported),
            payments::description.eq(&$after.description),
            payments::metadata.eq(&$after.metadata),
            payments::receipt_email.eq(&$after.receipt_email),
            payments::updated_at.eq($after.updated_at),
        )
    };
}

/// Writes what the state machine may change — the intent id, status, amounts (the authorised
/// amount and its tip too), charge, failure, the card's authorisation facts, the details a
/// merchant may update (description, metadata, receipt e-mail) and `updated_at` — and appends
/// `entry` to the payment's history: on PostgreSQL in one statement (one round trip, see
/// [`super::with_first`]).
pub fn record_state(
    conn: &mut DbConnection,
    after: &Payment,
    entry: &PaymentHistory,
) -> QueryResult<()> {
    let update = update_cached(
        payments::table,
        payments::id.eq(&after.id),
        state_of!(after),
    );
    let history = diesel::insert_into(payment_history::table).values(entry);
    match conn {
        DbConnection::Pg(pg) => with_first(history, update).execute(pg).map(|_| ()),
        DbConnection::Sqlite(sqlite) => {
            update.execute(sqlite)?;
            history.execute(sqlite).map(|_| ())
        }
    }
}

/// PostgreSQL: [`record_state`] as one autocommit statement, written only if the row is still
/// `before` in every column it writes and its account has no webhook endpoint (`WITH first AS
/// (UPDATE … WHERE id = $1 AND <each column IS NOT DISTINCT FROM before's> AND NOT EXISTS (<a
/// webhook endpoint>) RETURNING id) INSERT INTO payment_history … FROM first`): `true` when it
/// was; `false`, with nothing written, otherwise. A row equal to `before` in every column the
/// state machine writes is the row `before` was (the others never change after the insert), so a
/// decision made on `before` holds for it; with no endpoint, the change has no event to queue.
pub fn record_state_if_unchanged(
    pg: &mut diesel::PgConnection,
    before: &Payment,
    after: &Payment,
    entry: &PaymentHistory,
) -> QueryResult<bool> {
    use diesel::PgExpressionMethods;
    let b = before;
    let still = payments::id
        .eq(&b.id)
        .and(payments::stripe_payment_intent_id.is_not_distinct_from(&b.stripe_payment_intent_id))
        .and(payments::status.eq(b.status))
        .and(payments::amount_capturable.eq(b.amount_capturable))
        .and(payments::amount_captured.eq(b.amount_captured))
        .and(payments::amount_refunded.eq(b.amount_refunded))
        .and(payments::stripe_charge_id.is_not_distinct_from(&b.stripe_charge_id))
        .and(payments::failure_code.is_not_distinct_from(&b.failure_code))
        .and(payments::decline_code.is_not_distinct_from(&b.decline_code))
        .and(payments::amount.eq(b.amount))
        .and(payments::amount_tip.eq(b.amount_tip))
        .and(payments::capture_before.is_not_distinct_from(b.capture_before))
        .and(
            payments::incremental_authorization_supported
                .is_not_distinct_from(b.incremental_authorization_supported),
        )
        .and(payments::overcapture_supported.is_not_distinct_from(b.overcapture_supported))
        .and(payments::description.is_not_distinct_from(&b.description))
        .and(payments::metadata.is_not_distinct_from(&b.metadata))
        .and(payments::receipt_email.is_not_distinct_from(&b.receipt_email))
        .and(payments::updated_at.eq(b.updated_at))
        // …and its account still has no webhook endpoint: a change that would queue an event
        // goes through the locked path, which queues it.
        .and(diesel::dsl::not(diesel::dsl::exists(
            accounts::table
                .filter(accounts::id.eq(payments::account_id))
                .filter(accounts::webhook_url.is_not_null()),
        )));
    let update = ReturningId(update_cached(payments::table, still, state_of!(after)));
    let written = with_first(update, HistoryOfFirst(entry)).execute(pg)?;
    Ok(written == 1)
}

/// `… RETURNING id` after an `UPDATE payments` (for [`with_first`]).
struct ReturningId<U>(U);

impl<U> diesel::query_builder::QueryFragment<diesel::pg::Pg> for ReturningId<U>
where
    U: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING id");
        Ok(())
    }
}

/// The row id of the account's payment with this PaymentIntent id (a list cursor).
pub fn id_by_intent(
    conn: &mut DbConnection,
    account_id: &str,
    intent_id: &str,
) -> QueryResult<Option<String>> {
    // By the unique intent id alone, the account checked here (see `find_by_intent`).
    let found: Option<(String, String)> = payments::table
        .filter(payments::stripe_payment_intent_id.eq(intent_id))
        .select((payments::id, payments::account_id))
        .first(conn)
        .optional()?;
    Ok(found.and_then(|(id, owner)| (owner == account_id).then_some(id)))
}

/// What a page of an account's payments is cut by.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub status: Option<PaymentStatus>,
    pub external_customer_id: Option<&'a str>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub min_amount: Option<MinorUnits>,
    pub max_amount: Option<MinorUnits>,
    /// A currency code.
    pub currency: Option<&'a str>,
    /// Only rows with a smaller (older) id than this one.
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

/// The account's payments with a PaymentIntent, newest first, with their customers.
pub fn list(
    conn: &mut DbConnection,
    account_id: &str,
    filter: &Filter<'_>,
) -> QueryResult<Vec<(Payment, Option<Customer>)>> {
    let mut query = payments::table
        .left_join(customers::table)
        .filter(payments::account_id.eq(account_id))
        .filter(payments::stripe_payment_intent_id.is_not_null())
        .select((Payment::as_select(), Option::<Customer>::as_select()))
        .order(payments::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(before) = filter.before_id {
        query = query.filter(payments::id.lt(before));
    }
    if let Some(status) = filter.status {
        query = query.filter(payments::status.eq(status));
    }
    if let Some(external) = filter.external_customer_id {
        // The customer first (one probe of its unique index), then the page from the customer's
        // payments (`payments_listed_customer`) rather than from all the account's. A payment's
        // customer is always one of its account's.
        let customer = customers::table
            .filter(customers::account_id.eq(account_id))
            .filter(customers::external_customer_id.eq(external))
            .select(customers::id)
            .first::<String>(conn)
            .optional()?;
        let Some(customer) = customer else {
            return Ok(Vec::new());
        };
        query = query.filter(payments::customer_id.eq(customer));
    }
    if let Some(since) = filter.since {
        query = query.filter(payments::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(payments::created_at.lt(until));
    }
    if let Some(currency) = filter.currency {
        query = query.filter(payments::currency.eq(currency));
    }
    if let Some(min) = filter.min_amount {
        query = query.filter(payments::amount.ge(min));
    }
    if let Some(max) = filter.max_amount {
        query = query.filter(payments::amount.le(max));
    }
    query.load(conn)
}

/// Payments still `creating` that were created before `before`, with their accounts.
pub fn creating_before(
    conn: &mut DbConnection,
    before: NaiveDateTime,
) -> QueryResult<Vec<(Payment, Account)>> {
    payments::table
        .inner_join(accounts::table)
        .filter(payments::status.eq(PaymentStatus::Creating))
        .filter(payments::created_at.lt(before))
        .select((Payment::as_select(), Account::as_select()))
        .load(conn)
}

/// Up to `limit` payments with an intent, created since `since` and in none of `excluded`
/// statuses, oldest first, with their accounts.
pub fn with_intent_since(
    conn: &mut DbConnection,
    excluded: &[PaymentStatus],
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(Payment, Account)>> {
    payments::table
        .inner_join(accounts::table)
        .filter(payments::status.ne_all(excluded))
        .filter(payments::stripe_payment_intent_id.is_not_null())
        .filter(payments::created_at.ge(since))
        .order(payments::id.asc())
        .limit(limit)
        .select((Payment::as_select(), Account::as_select()))
        .load(conn)
}

/// Payments in `status` with no history entry of `action`, with their accounts.
pub fn in_status_without_action(
    conn: &mut DbConnection,
    status: PaymentStatus,
    action: &str,
) -> QueryResult<Vec<(Payment, Account)>> {
    let announced = payment_history::table
        .filter(payment_history::action.eq(action))
        .select(payment_history::payment_id);
    payments::table
        .inner_join(accounts::table)
        .filter(payments::status.eq(status))
        .filter(payments::id.ne_all(announced))
        .select((Payment::as_select(), Account::as_select()))
        .load(conn)
}
