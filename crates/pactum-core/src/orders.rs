//! Orders and invoices (P04, L6, C10).
//!
//! A person, or a company through its contact person, orders seats on a course session and names
//! the participants. The buyer's details are collected for the `order` purpose (basis contract),
//! held until the course has been delivered plus the purpose's period; each participant is a data
//! subject of their own, enrolled under `course_enrolment`, so a participant's data never hangs on
//! the buyer's purposes nor the buyer's on theirs.
//!
//! Paying by invoice issues the invoice in the same transaction. Its number comes from one gapless
//! series; it is immutable (corrections are credit notes); amounts are in øre, DKK, with 25 % VAT.
//! The personal data on it is held by a `bookkeeping` purpose (basis legal obligation) until the end
//! of the financial year it was issued in plus five years (L6), so it outlives the participation
//! and an erasure request leaves it restricted, not deleted.

use pactum_policy::Lang;
use pactum_store::{
    AuditEvent, Backend, Enrolment, EnrolmentId, Invoice, InvoiceId, Op, Order, OrderId, SessionId, SubjectId,
};
use pactum_vault::Binding;
use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::enrolment::{ENROLMENT_PURPOSE, seat_error};
use crate::mail::OutgoingMail;
use crate::payments::PaymentProvider;
use crate::personal::{Collection, PendingSubjects};
use crate::repeats::sorted;
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

pub const ORDER_PURPOSE: &str = "order";
pub const BOOKKEEPING_PURPOSE: &str = "bookkeeping";
/// VAT on courses in Denmark (momsloven § 33).
pub const VAT_PERCENT: i64 = 25;
/// Days from issue to the invoice's due date.
pub const PAYMENT_TERMS_DAYS: i64 = 14;
/// The most participants one order may name.
pub const MAX_PARTICIPANTS: usize = 50;

const INVOICES_TABLE: &str = "invoices";
const BUYER_COLUMN: &str = "buyer_sealed";

fn buyer_binding(invoice: &InvoiceId) -> Binding<'_> {
    Binding { table: INVOICES_TABLE, column: BUYER_COLUMN, row_id: invoice.as_bytes() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyerKind {
    Person,
    Company,
}

impl BuyerKind {
    pub fn key(self) -> &'static str {
        match self {
            BuyerKind::Person => "person",
            BuyerKind::Company => "company",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub session: SessionId,
    pub buyer_kind: BuyerKind,
    /// The buyer's (or contact person's) fields for the `order` purpose: name, email, address,
    /// company, phone.
    pub buyer: Vec<(String, String)>,
    /// The company's CVR number: eight digits, required for a company.
    pub cvr: Option<String>,
    /// The buyer's own purchase-order reference, printed on the invoice.
    pub purchase_order: Option<String>,
    /// Each participant's fields for `course_enrolment`.
    pub participants: Vec<Vec<(String, String)>>,
    pub lang: Lang,
    pub method: String,
    pub notice_version: String,
    /// The key this order was placed under, if any (see [`crate::repeats`]): the form's one-time
    /// token, or the API caller's `Idempotency-Key`.
    pub repeat_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub order: OrderId,
    pub buyer: SubjectId,
    pub invoice: InvoiceId,
    pub participants: Vec<EnrolmentId>,
    /// True when this is the answer to a repeat of a request that placed the order before: nothing
    /// was placed now.
    pub repeated: bool,
}

/// What placing an order answered, kept for a repeat of it (see [`crate::repeats`]): ids of
/// records only, none that names a person, so that it says nothing once they are erased.
#[derive(serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order: OrderId,
    invoice: InvoiceId,
    participants: Vec<EnrolmentId>,
}

/// One line of an invoice. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description_da: String,
    pub description_en: String,
    pub quantity: u32,
    pub unit_price_ore: i64,
    pub vat_percent: i64,
    pub net_ore: i64,
}

/// The buyer block as it stood when the invoice was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceBuyer {
    pub kind: BuyerKind,
    pub name: String,
    pub company: Option<String>,
    pub cvr: Option<String>,
    pub address: String,
    pub email: Option<String>,
    pub purchase_order: Option<String>,
}

/// An invoice opened for display: the stored row, its lines and the buyer block.
#[derive(Debug, Clone)]
pub struct InvoiceDocument {
    pub invoice: Invoice,
    pub lines: Vec<InvoiceLine>,
    pub buyer: InvoiceBuyer,
    /// The bookkeeping hold: the personal data on the invoice is kept until this date (L6).
    pub retain_until: Option<Date>,
    /// For a credit note: the number of the invoice it credits.
    pub credited_number: Option<u64>,
}

struct OrderConfirmation<'a> {
    lang: Lang,
    /// The order's own page, where its invoice (with its number) and payment status are.
    status_url: String,
    course: &'a str,
    dates: (Date, Date),
    location: &'a str,
    seats: u32,
    amounts: (i64, i64, i64),
    due_on: Date,
}

/// The buyer's own address of an order: its id and a keyed tag, so only who placed the order
/// (and whoever they share the link with) can see its status.
pub fn status_path(state_keys: &pactum_vault::BlindIndexKey, lang: Lang, order: OrderId) -> String {
    let token = status_token(state_keys, order);
    match lang {
        Lang::Da => format!("/bestilling/{order}/{token}"),
        Lang::En => format!("/en/order/{order}/{token}"),
    }
}

/// The keyed tag in an order's own address (see [`status_path`]).
pub fn status_token(key: &pactum_vault::BlindIndexKey, order: OrderId) -> String {
    key.tag("order-status", order.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// An amount in øre as a reader of `lang` writes it: `37.375,00 kr.` in Danish, `DKK 37,375.00`
/// in English (where `9.950,00` would read as nine kroner).
pub fn money(ore: i64, lang: Lang) -> String {
    match lang {
        Lang::Da => format!("{} kr.", kroner(ore)),
        Lang::En => {
            let english: String = kroner(ore)
                .chars()
                .map(|c| match c {
                    '.' => ',',
                    ',' => '.',
                    other => other,
                })
                .collect();
            format!("DKK {english}")
        }
    }
}

/// Øre as kroner with two decimals and a comma, the Danish way: `37.375,00`.
pub fn kroner(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let (whole, cents) = (ore.unsigned_abs() / 100, ore.unsigned_abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped},{cents:02}")
}

/// The VAT of one line in øre, rounded half up to whole øre.
pub fn line_vat(line: &InvoiceLine) -> i64 {
    // Half away from zero, so that a credit note's VAT mirrors its invoice's to the øre.
    scaled(line.net_ore, u32::try_from(line.vat_percent).unwrap_or(0))
}

/// `percent` of `ore`, rounded half away from zero to whole øre.
fn scaled(ore: i64, percent: u32) -> i64 {
    let product = ore * i64::from(percent);
    let rounded = (product.abs() + 50) / 100;
    if product < 0 { -rounded } else { rounded }
}

/// The lines of the credit note that gives back all but `fee_percent` of `lines`.
fn credited_lines(lines: Vec<InvoiceLine>, fee_percent: u32) -> Vec<InvoiceLine> {
    let share = 100 - fee_percent.min(100);
    lines
        .into_iter()
        .map(|l| InvoiceLine {
            // Price × quantity exactly, as e-invoice rules require of every line.
            net_ore: -scaled(l.unit_price_ore, share) * i64::from(l.quantity),
            unit_price_ore: -scaled(l.unit_price_ore, share),
            description_da: if fee_percent > 0 {
                format!("{} (annulleret; {fee_percent} % beholdes som gebyr)", l.description_da)
            } else {
                l.description_da
            },
            description_en: if fee_percent > 0 {
                format!("{} (cancelled; {fee_percent} % kept as a fee)", l.description_en)
            } else {
                l.description_en
            },
            ..l
        })
        .collect()
}

/// What cancelling an order costs under its course's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationQuote {
    /// The last day on which cancelling is free.
    pub free_until: Date,
    /// The share kept when cancelling after `free_until`.
    pub late_fee_percent: u32,
    /// The share kept if cancelled today: 0 or `late_fee_percent`.
    pub fee_percent: u32,
    /// Whether the buyer can still cancel: the session has not started and the order stands.
    pub open: bool,
    /// Kept and given back, VAT included, in øre.
    pub fee_ore: i64,
    pub credit_ore: i64,
}

/// Net, VAT and total in øre.
pub fn totals(lines: &[InvoiceLine]) -> (i64, i64, i64) {
    let net: i64 = lines.iter().map(|l| l.net_ore).sum();
    let vat: i64 = lines.iter().map(line_vat).sum();
    (net, vat, net + vat)
}

fn field(values: &[(String, String)], category: &str) -> Option<String> {
    values.iter().find(|(c, _)| c == category).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn invalid(field: &str, problem: Problem) -> CoreError {
    CoreError::Invalid(vec![FieldError { field: field.to_string(), problem }])
}

/// A CVR number is eight digits (spaces allowed between them).
fn parse_cvr(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 8 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Places an order for one seat per named participant and issues its invoice, in one
    /// transaction: either the seats, the enrolments, the order and the invoice all exist, or none.
    pub async fn place_order(&self, request: OrderRequest) -> Result<Placed, CoreError> {
        self.retried_if_raced(|| self.place_order_attempt(request.clone())).await
    }

    /// One try of [`Self::place_order`].
    async fn place_order_attempt(&self, request: OrderRequest) -> Result<Placed, CoreError> {
        // A repeat is answered first, whatever changed since the first request (the notice).
        let (repeat_key, first) = self
            .earlier::<OrderPlaced>("order", request.repeat_key.as_deref(), || {
                serde_json::json!({
                    "session": request.session,
                    "buyer_kind": request.buyer_kind.key(),
                    "buyer": sorted(&request.buyer),
                    "cvr": request.cvr,
                    "purchase_order": request.purchase_order,
                    "participants": request.participants.iter().map(|p| sorted(p)).collect::<Vec<_>>(),
                    "notice_version": request.notice_version,
                })
            })
            .await?;
        if let Some(first) = first {
            return self.placed_before(first).await;
        }
        if request.notice_version != self.policy.version {
            return Err(CoreError::NoticeChanged);
        }
        if request.participants.is_empty() {
            return Err(invalid("participants", Problem::Missing));
        }
        if request.buyer.iter().any(|(c, _)| c == ORDER_PURPOSE) {
            // The order record is Pactum's own account of what was bought, never the caller's.
            return Err(invalid(ORDER_PURPOSE, Problem::NotAccepted));
        }
        if request.participants.len() > MAX_PARTICIPANTS {
            return Err(invalid("participants", Problem::TooMany(MAX_PARTICIPANTS as u32)));
        }
        let cvr = match (request.buyer_kind, request.cvr.as_deref().map(str::trim).filter(|c| !c.is_empty())) {
            (BuyerKind::Company, None) => return Err(invalid("cvr", Problem::Missing)),
            (_, Some(raw)) => Some(parse_cvr(raw).ok_or_else(|| invalid("cvr", Problem::NotACvr))?),
            (BuyerKind::Person, None) => None,
        };
        if request.buyer_kind == BuyerKind::Company && field(&request.buyer, "company").is_none() {
            return Err(invalid("company", Problem::Missing));
        }
        let purchase_order = request.purchase_order.as_deref().map(str::trim).filter(|p| !p.is_empty());
        if purchase_order.is_some_and(|p| p.chars().count() > 100) {
            return Err(invalid("purchase_order", Problem::TooLong(100)));
        }
        if purchase_order.is_some_and(|p| p.chars().any(char::is_control)) {
            return Err(invalid("purchase_order", Problem::ControlCharacters));
        }
        let catalogue = self.catalogue().await?;
        let session = catalogue.sessions.iter().find(|s| s.id == request.session).ok_or(CoreError::UnknownActivity)?;
        let course = catalogue.courses.iter().find(|c| c.id == session.course).ok_or(CoreError::UnknownActivity)?;
        let seats = u32::try_from(request.participants.len()).unwrap_or(u32::MAX);

        // The order record: what was bought, for the buyer's access report (P04).
        let order_id = OrderId::new();
        let record = serde_json::json!({
            "order": order_id.to_string(),
            "course": course.slug,
            "session": session.id.to_string(),
            "seats": seats,
            "buyer_kind": request.buyer_kind.key(),
            "cvr": cvr,
            "purchase_order": purchase_order,
        })
        .to_string();
        let mut buyer_values = request.buyer.clone();
        buyer_values.push((ORDER_PURPOSE.into(), record));
        let mut pending = PendingSubjects::default();
        let buyer = self
            .prepare_collection_among(
                Collection {
                    purpose: ORDER_PURPOSE.into(),
                    values: buyer_values.clone(),
                    source: request.method.clone(),
                    // The order is completed when the course has been delivered.
                    anchor_date: Some(session.ends_on),
                    actor: "subject".into(),
                },
                &mut pending,
            )
            .await?;
        let buyer_subject = buyer.collected.subject;
        let mut change = buyer.change;
        let now = self.clock.now_micros();

        let mut enrolments = Vec::with_capacity(request.participants.len());
        let mut enrolments_of = Vec::with_capacity(request.participants.len());
        for (n, values) in request.participants.iter().enumerate() {
            let participant = self
                .prepare_collection_among(
                    Collection {
                        purpose: ENROLMENT_PURPOSE.into(),
                        values: values.clone(),
                        source: format!("order:{}", request.method),
                        anchor_date: Some(session.ends_on),
                        actor: "subject".into(),
                    },
                    &mut pending,
                )
                .await
                .map_err(|e| match e {
                    // Name the participant whose field is wrong: `participants[2].email`.
                    CoreError::Invalid(errors) => CoreError::Invalid(
                        errors
                            .into_iter()
                            .map(|e| FieldError { field: format!("participants[{n}].{}", e.field), problem: e.problem })
                            .collect(),
                    ),
                    other => other,
                })?;
            // One seat per person: the same address twice, or someone already enrolled on the
            // session, is a mistake the buyer can see and fix before paying for a seat nobody uses.
            if enrolments_of.contains(&participant.collected.subject) {
                return Err(invalid(&format!("participants[{n}].email"), Problem::Repeated));
            }
            if self.held_enrolment(&participant.collected, session.id.0).await?.is_some() {
                // A copy of this very request, sent at the same moment, may have just placed it:
                // then this is its repeat, and gets its answer.
                if let Some(key) = &repeat_key
                    && let Some(first) = self.repeated::<OrderPlaced>(key).await?
                {
                    return self.placed_before(first).await;
                }
                return Err(invalid(&format!("participants[{n}].email"), Problem::AlreadyEnrolled));
            }
            enrolments_of.push(participant.collected.subject);
            let enrolment = Enrolment {
                id: EnrolmentId::new(),
                activity: session.id.0,
                kind: "course_session".into(),
                subject: participant.collected.subject,
                instance: participant.collected.instance,
                certification: None,
                sponsor_consent: None,
                created_at: now,
                cancelled_at: None,
            };
            change.ops.extend(participant.change.ops);
            change.audit.extend(participant.change.audit);
            change.audit.push(AuditEvent::new(
                "subject",
                "enrolment.create",
                Some(enrolment.subject),
                serde_json::json!({
                    "enrolment": enrolment.id.to_string(),
                    "session": session.id.to_string(),
                    "course": course.slug,
                    "order": order_id.to_string(),
                    "notice_version": request.notice_version,
                }),
            ));
            change.ops.push(Op::Enrol { enrolment: enrolment.clone(), seats: session.seats });
            enrolments.push(enrolment.id);
        }

        let order = Order {
            id: order_id,
            session: session.id,
            buyer: buyer_subject,
            buyer_kind: request.buyer_kind.key().into(),
            instance: buyer.collected.instance,
            participants: enrolments.clone(),
            unit_price_ore: session.price_ore,
            status: "placed".into(),
            payment_method: "invoice".into(),
            payment_status: "pending".into(),
            payment_session: None,
            payment_ref: None,
            created_at: now,
            updated_at: now,
        };
        change.ops.push(Op::PutOrder(order.clone()));
        change.audit.push(AuditEvent::new(
            "subject",
            "order.place",
            Some(buyer_subject),
            serde_json::json!({
                "order": order_id.to_string(),
                "session": session.id.to_string(),
                "seats": seats,
                "buyer_kind": request.buyer_kind.key(),
                "payment_method": order.payment_method,
            }),
        ));

        let describe = |title: &str| {
            let (starts, ends) =
                (pactum_store::date_to_text(session.starts_on), pactum_store::date_to_text(session.ends_on));
            format!("{title}, {starts} – {ends}, {}", session.location)
        };
        let lines = vec![InvoiceLine {
            description_da: describe(&course.title_da),
            description_en: describe(&course.title_en),
            quantity: seats,
            unit_price_ore: session.price_ore,
            vat_percent: VAT_PERCENT,
            net_ore: session.price_ore * i64::from(seats),
        }];
        let invoice_buyer = InvoiceBuyer {
            kind: request.buyer_kind,
            name: field(&buyer_values, "name").unwrap_or_default(),
            company: field(&buyer_values, "company"),
            cvr,
            address: field(&buyer_values, "address").unwrap_or_default(),
            email: field(&buyer_values, "email"),
            purchase_order: purchase_order.map(str::to_string),
        };
        let (net_ore, vat_ore, total_ore) = totals(&lines);
        let confirmation = OrderConfirmation {
            lang: request.lang,
            status_url: format!(
                "{}{}",
                self.settings.public_url,
                status_path(&self.keys.blind_index, request.lang, order_id)
            ),
            course: if request.lang == Lang::Da { &course.title_da } else { &course.title_en },
            dates: (session.starts_on, session.ends_on),
            location: &session.location,
            seats,
            amounts: (net_ore, vat_ore, total_ore),
            due_on: self.clock.today() + Duration::days(PAYMENT_TERMS_DAYS),
        };
        let invoice = self.prepare_invoice(&order, lines, &invoice_buyer, None, &buyer.key, &mut change)?;
        if let Some(email) = &invoice_buyer.email {
            let mail = self.order_confirmation_mail(email, &confirmation);
            change.ops.push(self.mail_op(buyer_subject, &buyer.key, "order_confirmation", mail)?);
        }
        let placed =
            Placed { order: order_id, buyer: buyer_subject, invoice, participants: enrolments, repeated: false };
        let outcome = OrderPlaced { order: order_id, invoice, participants: placed.participants.clone() };
        let first = self.commit_once(change, repeat_key.as_ref(), &outcome).await.map_err(seat_error)?;
        if let Some(first) = first {
            return self.placed_before(first).await;
        }
        self.mail_ready.notify_one();
        Ok(placed)
    }

    /// The answer to a repeat of the request that placed `first`, with its buyer as the order
    /// names them now; an order gone since (erased) is one that does not exist.
    async fn placed_before(&self, first: OrderPlaced) -> Result<Placed, CoreError> {
        let order = self.store.backend().order(first.order).await?.ok_or(CoreError::UnknownActivity)?;
        Ok(Placed {
            order: first.order,
            buyer: order.buyer,
            invoice: first.invoice,
            participants: first.participants,
            repeated: true,
        })
    }

    /// The order confirmation to the buyer: what was ordered, the amounts and the payment terms.
    /// It names no participant: the buyer knows them, and a mail is no place to repeat them.
    fn order_confirmation_mail(&self, to: &str, c: &OrderConfirmation<'_>) -> OutgoingMail {
        let controller = &self.policy.controller.name;
        let (starts, ends) = (pactum_store::date_to_text(c.dates.0), pactum_store::date_to_text(c.dates.1));
        let (net, vat, total) = (money(c.amounts.0, c.lang), money(c.amounts.1, c.lang), money(c.amounts.2, c.lang));
        let due = pactum_store::date_to_text(c.due_on);
        let (subject, text) = match c.lang {
            Lang::Da => (
                format!("Ordrebekræftelse: {}", c.course),
                format!(
                    "Hej\n\nTak for din bestilling hos {controller}.\n\n{}, {starts} – {ends}, {}\nAntal pladser: {}\n\n\
                     Beløb ekskl. moms: {net}\nMoms 25 %: {vat}\nI alt: {total}\n\n\
                     Fakturaen er udstedt og forfalder til betaling {due}. Angiv fakturanummeret ved betaling.\n\n\
                     Fakturaen med dens nummer, og betalingens status, finder du her:\n{}\n",
                    c.course, c.location, c.seats, c.status_url
                ),
            ),
            Lang::En => (
                format!("Order confirmation: {}", c.course),
                format!(
                    "Hello\n\nThank you for your order with {controller}.\n\n{}, {starts} – {ends}, {}\nSeats: {}\n\n\
                     Amount excl. VAT: {net}\nVAT 25 %: {vat}\nTotal: {total}\n\n\
                     The invoice has been issued and is due on {due}. Quote the invoice number when paying.\n\n\
                     The invoice with its number, and the payment's status, are here:\n{}\n",
                    c.course, c.location, c.seats, c.status_url
                ),
            ),
        };
        OutgoingMail { to: to.to_string(), subject, text, headers: Vec::new() }
    }

    /// Adds the bookkeeping hold and the invoice (or credit note) to `change`.
    fn prepare_invoice(
        &self,
        order: &Order,
        lines: Vec<InvoiceLine>,
        buyer: &InvoiceBuyer,
        credits: Option<InvoiceId>,
        key: &pactum_vault::SubjectKey,
        change: &mut pactum_store::Change,
    ) -> Result<InvoiceId, CoreError> {
        let today = self.clock.today();
        let bookkeeping = self.purpose(BOOKKEEPING_PURPOSE)?;
        let hold = self.start_purpose(order.buyer, bookkeeping, Some(today));
        let (net_ore, vat_ore, total_ore) = totals(&lines);
        let id = InvoiceId::new();
        let sealed_buyer = serde_json::to_vec(buyer).map_err(|e| CoreError::Vault(e.to_string()))?;
        let invoice = Invoice {
            id,
            number: 0,
            kind: if credits.is_some() { "credit_note" } else { "invoice" }.into(),
            credits,
            order: order.id,
            buyer: order.buyer,
            instance: hold.id,
            issued_on: today,
            due_on: today + Duration::days(PAYMENT_TERMS_DAYS),
            lines: serde_json::to_string(&lines).map_err(|e| CoreError::Vault(e.to_string()))?,
            net_ore,
            vat_ore,
            total_ore,
            buyer_sealed: key.seal(buyer_binding(&id), &sealed_buyer).map_err(|e| CoreError::Vault(e.to_string()))?,
            created_at: self.clock.now_micros(),
        };
        change.audit.push(AuditEvent::new(
            "system",
            if credits.is_some() { "invoice.credit" } else { "invoice.issue" },
            Some(order.buyer),
            serde_json::json!({
                "invoice": id.to_string(),
                "order": order.id.to_string(),
                "total_ore": total_ore,
                "bookkeeping_until": hold.retain_until.map(pactum_store::date_to_text),
            }),
        ));
        change.ops.push(Op::StartPurpose(hold));
        change.ops.push(Op::IssueInvoice(invoice));
        Ok(id)
    }

    /// Cancels an order on staff's decision: its seats are given back and, if it was invoiced, a
    /// credit note for the full amount is issued (and a card payment refunded). The invoice itself
    /// never changes.
    pub async fn cancel_order(&self, order: OrderId, actor: &str) -> Result<Option<InvoiceId>, CoreError> {
        let found = self.store.backend().order(order).await?.ok_or(CoreError::UnknownActivity)?;
        self.cancel_with_fee(found, 0, actor).await
    }

    /// What cancelling `order` today would cost the buyer under its course's terms.
    pub async fn cancellation_quote(&self, order: OrderId) -> Result<CancellationQuote, CoreError> {
        let backend = self.store.backend();
        let found = backend.order(order).await?.ok_or(CoreError::UnknownActivity)?;
        let catalogue = self.catalogue().await?;
        let session = catalogue.sessions.iter().find(|s| s.id == found.session).ok_or(CoreError::UnknownActivity)?;
        let course = catalogue.courses.iter().find(|c| c.id == session.course).ok_or(CoreError::UnknownActivity)?;
        let invoices = backend.invoices_of_order(order).await?;
        let credited: Vec<InvoiceId> = invoices.iter().filter_map(|i| i.credits).collect();
        let open_invoice = invoices.iter().find(|i| i.kind == "invoice" && !credited.contains(&i.id));
        let today = self.clock.today();
        let free_until = session.starts_on - Duration::days(i64::from(course.cancel_free_days));
        let fee_percent = if today <= free_until { 0 } else { course.cancel_late_fee_percent };
        let total = open_invoice.map(|i| i.total_ore).unwrap_or(0);
        let lines: Vec<InvoiceLine> = match open_invoice {
            Some(invoice) => serde_json::from_str(&invoice.lines).map_err(|e| CoreError::Vault(e.to_string()))?,
            None => Vec::new(),
        };
        let credit_ore = -totals(&credited_lines(lines, fee_percent)).2;
        let fee_ore = total - credit_ore;
        Ok(CancellationQuote {
            free_until,
            late_fee_percent: course.cancel_late_fee_percent,
            fee_percent,
            open: found.status != "cancelled" && today < session.starts_on,
            fee_ore,
            credit_ore,
        })
    }

    /// The buyer cancels their own order under the course's terms: free until the deadline, then
    /// the late fee is kept. The seats are given back, a credit note is issued for what is given
    /// back (none when the fee is the whole price), and a card payment is refunded by that much.
    pub async fn cancel_order_as_buyer(&self, order: OrderId) -> Result<CancellationQuote, CoreError> {
        let quote = self.cancellation_quote(order).await?;
        if !quote.open {
            return Err(CoreError::Forbidden);
        }
        let found = self.store.backend().order(order).await?.ok_or(CoreError::UnknownActivity)?;
        self.cancel_with_fee(found, quote.fee_percent, "subject").await?;
        Ok(quote)
    }

    /// Cancels `order`, keeping `fee_percent` of the price.
    async fn cancel_with_fee(
        &self,
        order: Order,
        fee_percent: u32,
        actor: &str,
    ) -> Result<Option<InvoiceId>, CoreError> {
        self.cancel_attempt(order, fee_percent, actor, true).await
    }

    async fn cancel_attempt(
        &self,
        order: Order,
        fee_percent: u32,
        actor: &str,
        retry: bool,
    ) -> Result<Option<InvoiceId>, CoreError> {
        if order.status == "cancelled" {
            return Ok(None);
        }
        let backend = self.store.backend();
        let now = self.clock.now_micros();
        let mut change = pactum_store::Change { at: now, ops: Vec::new(), audit: Vec::new() };
        for enrolment in &order.participants {
            change.ops.push(Op::CancelEnrolment { id: *enrolment, activity: order.session.0, at: now });
        }
        // The seats given back go to the waiting list first, in the same transaction.
        let (notices, notice_audit) = self.waiting_list_notices(order.session, order.participants.len()).await?;
        change.ops.extend(notices);
        change.audit.extend(notice_audit);
        let invoices = backend.invoices_of_order(order.id).await?;
        let credited: Vec<InvoiceId> = invoices.iter().filter_map(|i| i.credits).collect();
        let mut credit_note = None;
        let mut credit_total = 0;
        if let Some(invoice) = invoices.iter().find(|i| i.kind == "invoice" && !credited.contains(&i.id))
            && fee_percent < 100
        {
            let (key, buyer, lines) = self.open_invoice(invoice).await?;
            let credit = credited_lines(lines, fee_percent);
            credit_total = -totals(&credit).2;
            credit_note = Some(self.prepare_invoice(&order, credit, &buyer, Some(invoice.id), &key, &mut change)?);
        }
        let paid_by_card = order.payment_status == "paid" && order.payment_ref.is_some();
        if let (true, Some(payment)) = (paid_by_card && credit_total > 0, &order.payment_ref) {
            // The money goes back before the cancellation is recorded: if the provider refuses, the
            // order stays as it was and the caller can try again (the refund's key makes that safe).
            self.card_provider()?
                .refund(payment, credit_total, &format!("refund-{payment}"))
                .await
                .map_err(|e| CoreError::Payment(e.to_string()))?;
        }
        let payment_status = match order.payment_status.as_str() {
            "paid" if credit_total > 0 => "refunded",
            "paid" => "paid",
            _ => "cancelled",
        };
        change.ops.push(Op::UpdateOrder {
            id: order.id,
            expected: (order.status.clone(), order.payment_status.clone()),
            status: "cancelled".into(),
            payment_status: payment_status.into(),
            at: now,
        });
        change.audit.push(AuditEvent::new(
            actor,
            "order.cancel",
            Some(order.buyer),
            serde_json::json!({
                "order": order.id.to_string(),
                "fee_percent": fee_percent,
                "credit_note": credit_note.map(|c| c.to_string()),
            }),
        ));
        // A payment or another cancellation that crossed this one makes the commit a conflict: the
        // order is read again and the decision made anew, once.
        match self.store.commit(change).await {
            Ok(()) => {}
            Err(pactum_store::StoreError::Conflict(_)) if retry => {
                let fresh = backend.order(order.id).await?.ok_or(CoreError::UnknownActivity)?;
                return Box::pin(self.cancel_attempt(fresh, fee_percent, actor, false)).await;
            }
            Err(pactum_store::StoreError::Conflict(_)) => return Err(CoreError::Conflict),
            Err(e) => return Err(e.into()),
        }
        self.mail_ready.notify_one();
        Ok(credit_note)
    }

    /// The buyer's key, the buyer block and the lines of an issued invoice.
    async fn open_invoice(
        &self,
        invoice: &Invoice,
    ) -> Result<(pactum_vault::SubjectKey, InvoiceBuyer, Vec<InvoiceLine>), CoreError> {
        let wrapped = self.store.backend().subject_key(invoice.buyer).await?.ok_or(CoreError::SubjectGone)?;
        let key = self.keys.subject_key(invoice.buyer, &wrapped)?;
        let opened =
            key.open(buyer_binding(&invoice.id), &invoice.buyer_sealed).map_err(|e| CoreError::Vault(e.to_string()))?;
        let buyer = serde_json::from_slice(&opened).map_err(|e| CoreError::Vault(e.to_string()))?;
        let lines = serde_json::from_str(&invoice.lines).map_err(|e| CoreError::Vault(e.to_string()))?;
        Ok((key, buyer, lines))
    }

    /// An invoice opened by a staff member (the bookkeeper, a coordinator): the read of the buyer's
    /// details is written to the audit chain first (P22).
    pub async fn invoice_for_staff(
        &self,
        staff: &crate::staff::Staff,
        id: InvoiceId,
        what: &str,
    ) -> Result<Option<InvoiceDocument>, CoreError> {
        let Some(document) = self.invoice_document(id).await? else { return Ok(None) };
        let event = AuditEvent::new(
            &staff.actor(),
            "staff.read",
            Some(document.invoice.buyer),
            serde_json::json!({"what": what, "invoice": id.to_string(), "number": document.invoice.number}),
        );
        let at = self.clock.now_micros();
        self.store.commit(pactum_store::Change { at, ops: Vec::new(), audit: vec![event] }).await?;
        Ok(Some(document))
    }

    /// An invoice with its buyer block opened, for the printable page and the UBL document.
    pub async fn invoice_document(&self, id: InvoiceId) -> Result<Option<InvoiceDocument>, CoreError> {
        let backend = self.store.backend();
        let Some(invoice) = backend.invoice(id).await? else { return Ok(None) };
        let (_, buyer, lines) = self.open_invoice(&invoice).await?;
        let retain_until = backend
            .purposes_of(invoice.buyer)
            .await?
            .into_iter()
            .find(|p| p.id == invoice.instance)
            .and_then(|p| p.retain_until);
        let credited_number = match invoice.credits {
            Some(credited) => backend.invoice(credited).await?.map(|i| i.number),
            None => None,
        };
        Ok(Some(InvoiceDocument { invoice, lines, buyer, retain_until, credited_number }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(net_ore: i64) -> InvoiceLine {
        InvoiceLine {
            description_da: String::new(),
            description_en: String::new(),
            quantity: 1,
            unit_price_ore: net_ore,
            vat_percent: VAT_PERCENT,
            net_ore,
        }
    }

    #[test]
    fn vat_is_a_quarter_rounded_half_up_to_whole_ore() {
        assert_eq!(totals(&[line(1_495_000)]), (1_495_000, 373_750, 1_868_750));
        assert_eq!(totals(&[line(2)]), (2, 1, 3), "0.5 øre rounds up");
        assert_eq!(totals(&[line(1)]), (1, 0, 1));
        assert_eq!(totals(&[line(-1_495_000)]), (-1_495_000, -373_750, -1_868_750), "a credit note mirrors it");
        assert_eq!(totals(&[line(149_550)]).1, 37_388);
        assert_eq!(totals(&[line(-149_550)]).1, -37_388, "half away from zero both ways");
    }

    #[test]
    fn kroner_are_written_the_danish_way() {
        assert_eq!(kroner(3_737_500), "37.375,00");
        assert_eq!(kroner(5), "0,05");
        assert_eq!(kroner(-1_868_750), "-18.687,50");
        assert_eq!(kroner(12_345_678_900), "123.456.789,00");
    }

    #[test]
    fn amounts_read_as_each_language_writes_them() {
        assert_eq!(money(3_737_500, Lang::Da), "37.375,00 kr.");
        assert_eq!(money(3_737_500, Lang::En), "DKK 37,375.00");
        assert_eq!(money(-995_000, Lang::En), "DKK -9,950.00");
        assert_eq!(money(5, Lang::En), "DKK 0.05");
    }

    #[test]
    fn cvr_numbers_are_eight_digits() {
        assert_eq!(parse_cvr("1234 5678").as_deref(), Some("12345678"));
        assert_eq!(parse_cvr("1234567"), None);
        assert_eq!(parse_cvr("1234567x"), None);
    }
}
