//! Invoices and credit notes as Peppol BIS Billing 3.0 documents (UBL 2.1 syntax), for business and
//! public customers who receive e-invoices.
//!
//! The document is written element by element in the order the UBL 2.1 schemas require, every text
//! escaped. Amounts are the invoice's own, in DKK with two decimals; a credit note carries them as
//! positive amounts, as UBL wants. The seller is the policy's controller (CVR as Peppol endpoint
//! scheme 0184 and VAT number DK + CVR); the buyer is a company by its CVR, a private person by the
//! e-mail address on the invoice (endpoint scheme EM).

use std::fmt::Write;

use pactum_policy::Policy;

use crate::orders::{BuyerKind, InvoiceDocument, InvoiceLine, line_vat};

const CUSTOMIZATION: &str = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0";
const PROFILE: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";
/// Peppol electronic address scheme for a Danish CVR number.
const SCHEME_CVR: &str = "0184";
/// Peppol electronic address scheme for an e-mail address.
const SCHEME_EMAIL: &str = "EM";
/// UNCL 4461 "instrument not defined": the invoice asks for a bank transfer quoting its number,
/// and the controller's account is not part of the policy.
const PAYMENT_MEANS: &str = "1";

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are left out.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Øre as a decimal amount with two places: 3737500 → `37375.00`.
fn amount(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", ore.unsigned_abs() / 100, ore.unsigned_abs() % 100)
}

struct Xml(String);

impl Xml {
    fn open(&mut self, tag: &str) {
        let _ = write!(self.0, "<{tag}>");
    }
    fn close(&mut self, tag: &str) {
        let _ = write!(self.0, "</{tag}>");
    }
    fn text(&mut self, tag: &str, value: &str) {
        let _ = write!(self.0, "<{tag}>{}</{tag}>", escape(value));
    }
    fn with(&mut self, tag: &str, attribute: (&str, &str), value: &str) {
        let _ = write!(self.0, "<{tag} {}=\"{}\">{}</{tag}>", attribute.0, escape(attribute.1), escape(value));
    }
    fn money(&mut self, tag: &str, ore: i64) {
        self.with(tag, ("currencyID", "DKK"), &amount(ore));
    }
    fn vat_category(&mut self, tag: &str, percent: i64) {
        self.open(tag);
        self.text("cbc:ID", "S");
        self.text("cbc:Percent", &percent.to_string());
        self.open("cac:TaxScheme");
        self.text("cbc:ID", "VAT");
        self.close("cac:TaxScheme");
        self.close(tag);
    }
}

/// The Peppol BIS 3.0 document of an issued invoice or credit note.
pub fn peppol_document(policy: &Policy, document: &InvoiceDocument) -> String {
    let invoice = &document.invoice;
    let credit = invoice.kind == "credit_note";
    // A credit note states positive amounts; its kind says they are credited.
    let sign = if credit { -1 } else { 1 };
    let (root, namespace, line_tag, quantity_tag) = if credit {
        (
            "CreditNote",
            "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
            "cac:CreditNoteLine",
            "cbc:CreditedQuantity",
        )
    } else {
        ("Invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", "cac:InvoiceLine", "cbc:InvoicedQuantity")
    };
    let mut x = Xml(String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    let _ = write!(
        x.0,
        "<{root} xmlns=\"{namespace}\" \
         xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\" \
         xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">"
    );
    x.text("cbc:CustomizationID", CUSTOMIZATION);
    x.text("cbc:ProfileID", PROFILE);
    x.text("cbc:ID", &invoice.number.to_string());
    x.text("cbc:IssueDate", &pactum_store::date_to_text(invoice.issued_on));
    if credit {
        x.text("cbc:CreditNoteTypeCode", "381");
    } else {
        x.text("cbc:DueDate", &pactum_store::date_to_text(invoice.due_on));
        x.text("cbc:InvoiceTypeCode", "380");
    }
    x.text("cbc:DocumentCurrencyCode", "DKK");
    let buyer = &document.buyer;
    // Peppol requires a buyer reference or an order reference (PEPPOL-EN16931-R003).
    let reference = buyer.purchase_order.clone().unwrap_or_else(|| invoice.order.to_string());
    x.text("cbc:BuyerReference", &reference);
    if let Some(credited) = &document.credited_number {
        x.open("cac:BillingReference");
        x.open("cac:InvoiceDocumentReference");
        x.text("cbc:ID", &credited.to_string());
        x.close("cac:InvoiceDocumentReference");
        x.close("cac:BillingReference");
    }

    let controller = &policy.controller;
    x.open("cac:AccountingSupplierParty");
    x.open("cac:Party");
    x.with("cbc:EndpointID", ("schemeID", SCHEME_CVR), &controller.cvr);
    x.open("cac:PartyName");
    x.text("cbc:Name", &controller.name);
    x.close("cac:PartyName");
    address(&mut x, &controller.address);
    x.open("cac:PartyTaxScheme");
    x.text("cbc:CompanyID", &format!("DK{}", controller.cvr));
    x.open("cac:TaxScheme");
    x.text("cbc:ID", "VAT");
    x.close("cac:TaxScheme");
    x.close("cac:PartyTaxScheme");
    x.open("cac:PartyLegalEntity");
    x.text("cbc:RegistrationName", &controller.name);
    x.with("cbc:CompanyID", ("schemeID", SCHEME_CVR), &controller.cvr);
    x.close("cac:PartyLegalEntity");
    x.open("cac:Contact");
    x.text("cbc:ElectronicMail", &controller.email);
    x.close("cac:Contact");
    x.close("cac:Party");
    x.close("cac:AccountingSupplierParty");

    x.open("cac:AccountingCustomerParty");
    x.open("cac:Party");
    match (&buyer.cvr, &buyer.email) {
        (Some(cvr), _) if buyer.kind == BuyerKind::Company => x.with("cbc:EndpointID", ("schemeID", SCHEME_CVR), cvr),
        (_, Some(email)) => x.with("cbc:EndpointID", ("schemeID", SCHEME_EMAIL), email),
        (Some(cvr), None) => x.with("cbc:EndpointID", ("schemeID", SCHEME_CVR), cvr),
        (None, None) => {}
    }
    let legal_name = buyer.company.clone().unwrap_or_else(|| buyer.name.clone());
    x.open("cac:PartyName");
    x.text("cbc:Name", &legal_name);
    x.close("cac:PartyName");
    address(&mut x, &buyer.address);
    x.open("cac:PartyLegalEntity");
    x.text("cbc:RegistrationName", &legal_name);
    if let Some(cvr) = &buyer.cvr {
        x.with("cbc:CompanyID", ("schemeID", SCHEME_CVR), cvr);
    }
    x.close("cac:PartyLegalEntity");
    x.open("cac:Contact");
    x.text("cbc:Name", &buyer.name);
    if let Some(email) = &buyer.email {
        x.text("cbc:ElectronicMail", email);
    }
    x.close("cac:Contact");
    x.close("cac:Party");
    x.close("cac:AccountingCustomerParty");

    x.open("cac:PaymentMeans");
    x.text("cbc:PaymentMeansCode", PAYMENT_MEANS);
    if credit {
        x.text("cbc:PaymentDueDate", &pactum_store::date_to_text(invoice.due_on));
    }
    x.text("cbc:PaymentID", &invoice.number.to_string());
    x.close("cac:PaymentMeans");
    x.open("cac:PaymentTerms");
    x.text(
        "cbc:Note",
        &format!("Bank transfer by {}, quoting {}", pactum_store::date_to_text(invoice.due_on), invoice.number),
    );
    x.close("cac:PaymentTerms");

    x.open("cac:TaxTotal");
    x.money("cbc:TaxAmount", sign * invoice.vat_ore);
    let mut rates: Vec<i64> = document.lines.iter().map(|l| l.vat_percent).collect();
    rates.sort_unstable();
    rates.dedup();
    for rate in rates {
        let at_rate: Vec<&InvoiceLine> = document.lines.iter().filter(|l| l.vat_percent == rate).collect();
        let net: i64 = at_rate.iter().map(|l| l.net_ore).sum();
        let vat: i64 = at_rate.iter().map(|l| line_vat(l)).sum();
        x.open("cac:TaxSubtotal");
        x.money("cbc:TaxableAmount", sign * net);
        x.money("cbc:TaxAmount", sign * vat);
        x.vat_category("cac:TaxCategory", rate);
        x.close("cac:TaxSubtotal");
    }
    x.close("cac:TaxTotal");

    x.open("cac:LegalMonetaryTotal");
    x.money("cbc:LineExtensionAmount", sign * invoice.net_ore);
    x.money("cbc:TaxExclusiveAmount", sign * invoice.net_ore);
    x.money("cbc:TaxInclusiveAmount", sign * invoice.total_ore);
    x.money("cbc:PayableAmount", sign * invoice.total_ore);
    x.close("cac:LegalMonetaryTotal");

    for (n, line) in document.lines.iter().enumerate() {
        x.open(line_tag);
        x.text("cbc:ID", &(n + 1).to_string());
        // C62: "one", the unit of a seat.
        x.with(quantity_tag, ("unitCode", "C62"), &line.quantity.to_string());
        x.money("cbc:LineExtensionAmount", sign * line.net_ore);
        x.open("cac:Item");
        x.text("cbc:Name", &line.description_da);
        x.vat_category("cac:ClassifiedTaxCategory", line.vat_percent);
        x.close("cac:Item");
        x.open("cac:Price");
        x.money("cbc:PriceAmount", sign * line.unit_price_ore);
        x.close("cac:Price");
        x.close(line_tag);
    }
    x.close(root);
    x.0.push('\n');
    x.0
}

/// A free-text address as Peppol takes it: the first line as the street, the second as the
/// additional street, the rest as its one address line, then the country (Denmark, where Pactum's
/// customers are; the address form has no country field).
fn address(x: &mut Xml, text: &str) {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    x.open("cac:PostalAddress");
    if let Some(first) = lines.first() {
        x.text("cbc:StreetName", first);
    }
    if let Some(second) = lines.get(1) {
        x.text("cbc:AdditionalStreetName", second);
    }
    if lines.len() > 2 {
        x.open("cac:AddressLine");
        x.text("cbc:Line", &lines[2..].join(", "));
        x.close("cac:AddressLine");
    }
    x.open("cac:Country");
    x.text("cbc:IdentificationCode", "DK");
    x.close("cac:Country");
    x.close("cac:PostalAddress");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_amounts_have_two_places() {
        assert_eq!(escape("A&B <C> \"d\" 'e'\u{1}"), "A&amp;B &lt;C&gt; &quot;d&quot; &apos;e&apos;");
        assert_eq!(amount(3_737_500), "37375.00");
        assert_eq!(amount(5), "0.05");
        assert_eq!(amount(-150), "-1.50");
    }
}
