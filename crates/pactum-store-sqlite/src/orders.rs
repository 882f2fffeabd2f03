//! Orders and invoices (P04, L6): the rows, the gapless invoice series, and seat release on
//! cancellation. Invoices have no update statement at all: once issued they only go away with
//! their retention.

use pactum_store::*;
use sqlx::sqlite::SqliteRow;
use sqlx::{SqliteConnection, SqlitePool};

use crate::{ApplyError, corrupt, date_col, error, get, id_from};

pub(crate) async fn put_order(tx: &mut SqliteConnection, o: &Order) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO orders (id, session_id, buyer_subject_id, buyer_kind, instance_id, unit_price_ore, status, \
         payment_method, payment_status, payment_session, payment_ref, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(o.id.as_bytes().as_slice())
    .bind(o.session.as_bytes().as_slice())
    .bind(o.buyer.as_bytes().as_slice())
    .bind(&o.buyer_kind)
    .bind(o.instance.as_bytes().as_slice())
    .bind(o.unit_price_ore)
    .bind(&o.status)
    .bind(&o.payment_method)
    .bind(&o.payment_status)
    .bind(&o.payment_session)
    .bind(&o.payment_ref)
    .bind(o.created_at)
    .bind(o.updated_at)
    .execute(&mut *tx)
    .await?;
    for (place, enrolment) in o.participants.iter().enumerate() {
        sqlx::query("INSERT INTO order_participants (order_id, place, enrolment_id) VALUES (?, ?, ?)")
            .bind(o.id.as_bytes().as_slice())
            .bind(i64::try_from(place).unwrap_or(i64::MAX))
            .bind(enrolment.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn update_order(
    tx: &mut SqliteConnection,
    id: OrderId,
    expected: &(String, String),
    status: &str,
    payment_status: &str,
    at: Micros,
) -> Result<(), ApplyError> {
    let updated = sqlx::query(
        "UPDATE orders SET status = ?, payment_status = ?, updated_at = ? \
         WHERE id = ? AND status = ? AND payment_status = ?",
    )
    .bind(status)
    .bind(payment_status)
    .bind(at)
    .bind(id.as_bytes().as_slice())
    .bind(&expected.0)
    .bind(&expected.1)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApplyError::AlreadyUsed);
    }
    Ok(())
}

/// Applies one payment-provider event to an order, once: a second event with the same id is refused
/// as a conflict, and the order is left as the first one left it.
pub(crate) async fn record_payment(tx: &mut SqliteConnection, event: &PaymentEvent) -> Result<(), ApplyError> {
    sqlx::query("INSERT INTO payment_events (event_id, order_id, kind, received_at) VALUES (?, ?, ?, ?)")
        .bind(&event.event_id)
        .bind(event.order.as_bytes().as_slice())
        .bind(&event.kind)
        .bind(event.at)
        .execute(&mut *tx)
        .await?;
    let updated = sqlx::query(
        "UPDATE orders SET payment_status = ?, payment_ref = COALESCE(?, payment_ref), \
         payment_session = COALESCE(?, payment_session), updated_at = ? \
         WHERE id = ? AND status = ? AND payment_status = ?",
    )
    .bind(&event.payment_status)
    .bind(&event.payment_ref)
    .bind(&event.session)
    .bind(event.at)
    .bind(event.order.as_bytes().as_slice())
    .bind(&event.expected.0)
    .bind(&event.expected.1)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        // The order changed since the event was decided on: decide again on a fresh read.
        return Err(ApplyError::AlreadyUsed);
    }
    Ok(())
}

/// Takes the next number of the series and issues the invoice under it, in the caller's
/// transaction: a rolled-back issue gives its number back, so the series has no gaps.
pub(crate) async fn issue_invoice(tx: &mut SqliteConnection, i: &Invoice) -> Result<(), ApplyError> {
    let number: i64 = sqlx::query_scalar("UPDATE invoice_numbers SET last = last + 1 WHERE series = ? RETURNING last")
        .bind(INVOICE_SERIES)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO invoices (id, number, kind, credits_id, order_id, buyer_subject_id, instance_id, issued_on, due_on, \
         lines, net_ore, vat_ore, total_ore, buyer_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(i.id.as_bytes().as_slice())
    .bind(number)
    .bind(&i.kind)
    .bind(i.credits.as_ref().map(|c| c.as_bytes().to_vec()))
    .bind(i.order.as_bytes().as_slice())
    .bind(i.buyer.as_bytes().as_slice())
    .bind(i.instance.as_bytes().as_slice())
    .bind(date_to_text(i.issued_on))
    .bind(date_to_text(i.due_on))
    .bind(&i.lines)
    .bind(i.net_ore)
    .bind(i.vat_ore)
    .bind(i.total_ore)
    .bind(&i.buyer_sealed)
    .bind(i.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Cancels an enrolment; only an enrolment that was active gives its seat back.
pub(crate) async fn cancel_enrolment(
    tx: &mut SqliteConnection,
    id: EnrolmentId,
    activity: Uuid,
    at: Micros,
) -> Result<(), ApplyError> {
    let cancelled = sqlx::query("UPDATE enrolments SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL")
        .bind(at)
        .bind(id.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    if cancelled.rows_affected() == 1 {
        sqlx::query("UPDATE seat_counts SET taken = taken - 1 WHERE activity_id = ? AND taken > 0")
            .bind(activity.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

macro_rules! order_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, session_id, buyer_subject_id, buyer_kind, instance_id, unit_price_ore, status, \
                            payment_method, payment_status, payment_session, payment_ref, created_at, updated_at FROM orders",
            " ",
            $tail
        )
    };
}

macro_rules! invoice_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, number, kind, credits_id, order_id, buyer_subject_id, instance_id, issued_on, \
                              due_on, lines, net_ore, vat_ore, total_ore, buyer_sealed, created_at FROM invoices",
            " ",
            $tail
        )
    };
}

async fn order_from_row(pool: &SqlitePool, r: &SqliteRow) -> Result<Order, StoreError> {
    let id = id_from(r, "id", OrderId::from_slice)?;
    let participants: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT enrolment_id FROM order_participants WHERE order_id = ? ORDER BY place")
            .bind(id.as_bytes().as_slice())
            .fetch_all(pool)
            .await
            .map_err(error)?;
    Ok(Order {
        id,
        session: id_from(r, "session_id", SessionId::from_slice)?,
        buyer: id_from(r, "buyer_subject_id", SubjectId::from_slice)?,
        buyer_kind: get(r, "buyer_kind")?,
        instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
        participants: participants
            .iter()
            .map(|b| EnrolmentId::from_slice(b).ok_or_else(|| corrupt("enrolment_id")))
            .collect::<Result<_, _>>()?,
        unit_price_ore: get(r, "unit_price_ore")?,
        status: get(r, "status")?,
        payment_method: get(r, "payment_method")?,
        payment_status: get(r, "payment_status")?,
        payment_session: get(r, "payment_session")?,
        payment_ref: get(r, "payment_ref")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn invoice_from_row(r: &SqliteRow) -> Result<Invoice, StoreError> {
    let credits: Option<Vec<u8>> = get(r, "credits_id")?;
    let number: i64 = get(r, "number")?;
    Ok(Invoice {
        id: id_from(r, "id", InvoiceId::from_slice)?,
        number: u64::try_from(number).map_err(|_| corrupt("number"))?,
        kind: get(r, "kind")?,
        credits: credits.and_then(|b| InvoiceId::from_slice(&b)),
        order: id_from(r, "order_id", OrderId::from_slice)?,
        buyer: id_from(r, "buyer_subject_id", SubjectId::from_slice)?,
        instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
        issued_on: date_col(r, "issued_on")?.ok_or_else(|| corrupt("issued_on"))?,
        due_on: date_col(r, "due_on")?.ok_or_else(|| corrupt("due_on"))?,
        lines: get(r, "lines")?,
        net_ore: get(r, "net_ore")?,
        vat_ore: get(r, "vat_ore")?,
        total_ore: get(r, "total_ore")?,
        buyer_sealed: get(r, "buyer_sealed")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) async fn order(pool: &SqlitePool, id: OrderId) -> Result<Option<Order>, StoreError> {
    let row = sqlx::query(order_select!("WHERE id = ?"))
        .bind(id.as_bytes().as_slice())
        .fetch_optional(pool)
        .await
        .map_err(error)?;
    match row {
        Some(r) => Ok(Some(order_from_row(pool, &r).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn orders_of_buyer(pool: &SqlitePool, buyer: SubjectId) -> Result<Vec<Order>, StoreError> {
    let rows = sqlx::query(order_select!("WHERE buyer_subject_id = ? ORDER BY id"))
        .bind(buyer.as_bytes().as_slice())
        .fetch_all(pool)
        .await
        .map_err(error)?;
    let mut orders = Vec::with_capacity(rows.len());
    for r in &rows {
        orders.push(order_from_row(pool, r).await?);
    }
    Ok(orders)
}

pub(crate) async fn invoice(pool: &SqlitePool, id: InvoiceId) -> Result<Option<Invoice>, StoreError> {
    let row = sqlx::query(invoice_select!("WHERE id = ?"))
        .bind(id.as_bytes().as_slice())
        .fetch_optional(pool)
        .await
        .map_err(error)?;
    row.as_ref().map(invoice_from_row).transpose()
}

/// Whose invoices [`invoices_of`] lists.
pub(crate) enum InvoicesOf {
    Order(OrderId),
    After { number: u64, limit: u32 },
    Buyer(SubjectId),
}

pub(crate) async fn invoices_of(pool: &SqlitePool, of: InvoicesOf) -> Result<Vec<Invoice>, StoreError> {
    let query = match &of {
        InvoicesOf::Order(order) => {
            sqlx::query(invoice_select!("WHERE order_id = ? ORDER BY number")).bind(order.as_bytes().as_slice())
        }
        InvoicesOf::After { number, limit } => sqlx::query(invoice_select!("WHERE number > ? ORDER BY number LIMIT ?"))
            .bind(i64::try_from(*number).unwrap_or(i64::MAX))
            .bind(i64::from(*limit)),
        InvoicesOf::Buyer(buyer) => {
            sqlx::query(invoice_select!("WHERE buyer_subject_id = ? ORDER BY number")).bind(buyer.as_bytes().as_slice())
        }
    };
    let rows = query.fetch_all(pool).await.map_err(error)?;
    rows.iter().map(invoice_from_row).collect()
}

pub(crate) async fn join_waiting_list(tx: &mut SqliteConnection, w: &WaitingEntry) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO waiting_list (id, session_id, subject_id, instance_id, created_at, notified_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(w.id.as_bytes().as_slice())
    .bind(w.session.as_bytes().as_slice())
    .bind(w.subject.as_bytes().as_slice())
    .bind(w.instance.as_bytes().as_slice())
    .bind(w.created_at)
    .bind(w.notified_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) async fn waiting_notified(tx: &mut SqliteConnection, id: WaitingId, at: Micros) -> Result<(), ApplyError> {
    sqlx::query("UPDATE waiting_list SET notified_at = ? WHERE id = ?")
        .bind(at)
        .bind(id.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub(crate) async fn waiting_list(pool: &SqlitePool, session: SessionId) -> Result<Vec<WaitingEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, session_id, subject_id, instance_id, created_at, notified_at FROM waiting_list \
         WHERE session_id = ? ORDER BY created_at, id",
    )
    .bind(session.as_bytes().as_slice())
    .fetch_all(pool)
    .await
    .map_err(error)?;
    rows.iter()
        .map(|r: &SqliteRow| {
            Ok(WaitingEntry {
                id: id_from(r, "id", WaitingId::from_slice)?,
                session: id_from(r, "session_id", SessionId::from_slice)?,
                subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
                created_at: get(r, "created_at")?,
                notified_at: get(r, "notified_at")?,
            })
        })
        .collect()
}
