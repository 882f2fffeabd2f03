//! SQL text both backends run unchanged: numbered `$n` placeholders (SQLite reads them as
//! positions too), TEXT dates, INTEGER flags and BLOB/BYTEA ids bound as bytes. Each backend
//! binds the values and maps the rows; the statements are written once, here.

/// Subjects.
pub mod subjects {
    /// Binds the new index, then the subject id. A duplicate is refused by the unique index.
    pub const SET_EMAIL_INDEX: &str = "UPDATE subjects SET email_index = $1 WHERE id = $2";
    /// How many subjects have a purpose whose retention ran out before the bound date.
    pub const COUNT_WITH_EXPIRED_PURPOSES: &str =
        "SELECT COUNT(DISTINCT subject_id) FROM purpose_instances WHERE retain_until < $1";
}

/// The categories a purpose holds, as its `categories` column: sorted and joined by commas.
/// Category keys are policy keys (lower-case letters, digits and underscores), so none holds a comma.
pub fn categories_column(categories: &[String]) -> String {
    let mut sorted: Vec<&str> = categories.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.join(",")
}

/// The categories in a `categories` column written by [`categories_column`].
pub fn categories_from_column(column: &str) -> Vec<String> {
    column.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect()
}

/// The values a purpose began with, as its `item_ids` column: the ids' 16 bytes one after the other,
/// NULL when there are none.
pub fn item_ids_column(items: &[crate::ItemId]) -> Option<Vec<u8>> {
    (!items.is_empty()).then(|| items.iter().flat_map(|i| *i.as_bytes()).collect())
}

/// The ids in an `item_ids` column written by [`item_ids_column`]; `None` when its length is not a
/// whole number of ids.
pub fn item_ids_from_column(column: Option<Vec<u8>>) -> Option<Vec<crate::ItemId>> {
    let column = column.unwrap_or_default();
    if !column.len().is_multiple_of(16) {
        return None;
    }
    column.chunks_exact(16).map(crate::ItemId::from_slice).collect()
}

/// Consent records.
pub mod consents {
    /// Every column of a consent record; a filter and an order follow.
    pub const SELECT: &str = "SELECT id, subject_id, purpose, instance_id, state, lang, policy_version, text, \
         text_hash, method, requested_at, confirmed_at, withdrawn_at, withdraw_method FROM consents";
}

/// The rights-request register (P34, L1).
pub mod rights_requests {
    /// Inserts a request, or replaces the mutable part of one (extension, decision).
    pub const UPSERT: &str = "INSERT INTO rights_requests (id, subject_id, kind, channel, scope, received_at, \
         due_on, extended_to, extension_reason, status, restricts, restricted_until, decision_reason, decided_at, \
         decided_by, instance_id, details_item_id, created_by, lang) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
         ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, extended_to = excluded.extended_to, \
         extension_reason = excluded.extension_reason, status = excluded.status, restricts = excluded.restricts, \
         restricted_until = excluded.restricted_until, decision_reason = excluded.decision_reason, \
         decided_at = excluded.decided_at, decided_by = excluded.decided_by";

    macro_rules! select {
        ($tail:literal) => {
            concat!(
                "SELECT id, subject_id, kind, channel, scope, received_at, due_on, extended_to, extension_reason, \
                 status, restricts, restricted_until, decision_reason, decided_at, decided_by, instance_id, \
                 details_item_id, created_by, lang FROM rights_requests ",
                $tail
            )
        };
    }

    /// Open requests, the one due first first; binds the limit.
    pub const OPEN: &str =
        select!("WHERE status = 'open' ORDER BY COALESCE(extended_to, due_on), received_at, id LIMIT $1");
    /// Closed requests, newest decision first; binds the limit.
    pub const CLOSED: &str = select!("WHERE status <> 'open' ORDER BY decided_at DESC, id DESC LIMIT $1");
    /// One request; binds the id.
    pub const ONE: &str = select!("WHERE id = $1");
    /// A subject's requests, oldest first; binds the subject id.
    pub const OF_SUBJECT: &str = select!("WHERE subject_id = $1 ORDER BY received_at, id");
}

/// What forgetting deletes: every row that names a shredded subject, or a purpose instance whose
/// retention has ended, as statements over `$ids` (the list of ids), run in this order.
pub mod forget {
    /// A shredded subject. Its rights requests stay (they are the record of the request), but their
    /// sealed reasons could no longer be read, so they go, and so do the links to the rows the
    /// shredding deletes. Then the key goes first: from that statement on, nothing left of the
    /// subject can be opened.
    pub const SUBJECTS: &[&str] = &[
        "UPDATE rights_requests SET extension_reason = NULL, decision_reason = NULL, instance_id = NULL, \
         details_item_id = NULL WHERE subject_id IN ($ids)",
        "DELETE FROM subject_keys WHERE subject_id IN ($ids)",
        "DELETE FROM items WHERE subject_id IN ($ids)",
        "DELETE FROM outbox WHERE subject_id IN ($ids)",
        "DELETE FROM consents WHERE subject_id IN ($ids)",
        "DELETE FROM link_tokens WHERE subject_id IN ($ids)",
        "DELETE FROM access_links WHERE subject_id IN ($ids)",
        "DELETE FROM invoices WHERE buyer_subject_id IN ($ids)",
        "DELETE FROM waiting_list WHERE subject_id IN ($ids)",
        "DELETE FROM disclosures WHERE subject_id IN ($ids)",
        "DELETE FROM certification_messages WHERE subject_id IN ($ids)",
        "DELETE FROM participations WHERE subject_id IN ($ids)",
        "DELETE FROM order_participants WHERE order_id IN (SELECT id FROM orders WHERE buyer_subject_id IN ($ids))",
        "DELETE FROM payment_events WHERE order_id IN (SELECT id FROM orders WHERE buyer_subject_id IN ($ids))",
        "DELETE FROM order_participants WHERE enrolment_id IN (SELECT id FROM enrolments WHERE subject_id IN ($ids))",
        "DELETE FROM orders WHERE buyer_subject_id IN ($ids)",
        "DELETE FROM enrolments WHERE subject_id IN ($ids)",
        "DELETE FROM purpose_instances WHERE subject_id IN ($ids)",
        "DELETE FROM subjects WHERE id IN ($ids)",
    ];

    /// A purpose instance whose retention has ended: the rows it held, and the rights requests it
    /// held (they go with it).
    pub const PURPOSES: &[&str] = &[
        "DELETE FROM rights_requests WHERE instance_id IN ($ids)",
        "UPDATE enrolments SET sponsor_consent_id = NULL WHERE sponsor_consent_id IN \
         (SELECT id FROM consents WHERE instance_id IN ($ids))",
        "DELETE FROM link_tokens WHERE consent_id IN (SELECT id FROM consents WHERE instance_id IN ($ids))",
        "DELETE FROM consents WHERE instance_id IN ($ids)",
        "UPDATE enrolments SET certification_instance_id = NULL WHERE certification_instance_id IN ($ids)",
        "DELETE FROM invoices WHERE instance_id IN ($ids)",
        "DELETE FROM waiting_list WHERE instance_id IN ($ids)",
        "DELETE FROM disclosures WHERE instance_id IN ($ids)",
        "DELETE FROM certification_messages WHERE instance_id IN ($ids)",
        "DELETE FROM participations WHERE instance_id IN ($ids)",
        "DELETE FROM order_participants WHERE order_id IN (SELECT id FROM orders WHERE instance_id IN ($ids))",
        "DELETE FROM payment_events WHERE order_id IN (SELECT id FROM orders WHERE instance_id IN ($ids))",
        "DELETE FROM order_participants WHERE enrolment_id IN (SELECT id FROM enrolments WHERE instance_id IN ($ids))",
        "DELETE FROM orders WHERE instance_id IN ($ids)",
        "DELETE FROM enrolments WHERE instance_id IN ($ids)",
        "DELETE FROM purpose_instances WHERE id IN ($ids)",
    ];

    /// `ids` as literals, each written by `literal` (the backend's spelling of a byte string); ids
    /// are bytes Pactum generated and are written as hex digits only, so nothing from outside
    /// reaches the text.
    pub fn literals<'a>(ids: impl IntoIterator<Item = &'a [u8]>, literal: fn(&str) -> String) -> Vec<String> {
        ids.into_iter().map(|id| literal(&hex::encode(id))).collect()
    }

    /// `statements` as one script, one round trip to the database, with `$ids` spelled `set`:
    /// a list from [`literals`], or a query over a table that holds them.
    pub fn script(statements: &[&str], set: &str) -> String {
        let mut script = String::new();
        for statement in statements {
            script.push_str(&statement.replace("$ids", set));
            script.push_str(";\n");
        }
        script
    }
}

/// The rights-request part of a backend, written once for both: expands, in an adapter crate, to
/// `put_rights_request`, `rights_requests`, `rights_request` and `rights_requests_of` over that
/// crate's connection, row and pool types. It uses the adapter's own `get`, `id_from`, `date_col`,
/// `corrupt`, `error` and `ApplyError`.
#[macro_export]
macro_rules! rights_requests_adapter {
    ($connection:ty, $row:ty, $pool:ty) => {
        use $crate::sql::rights_requests as statements;
        use $crate::{ItemId, PurposeInstanceId, RightsRequest, RightsRequestId, StoreError, SubjectId};

        pub(crate) async fn put_rights_request(tx: &mut $connection, r: &RightsRequest) -> Result<(), ApplyError> {
            sqlx::query(statements::UPSERT)
                .bind(r.id.as_bytes().as_slice())
                .bind(r.subject.as_bytes().as_slice())
                .bind(&r.kind)
                .bind(&r.channel)
                .bind(&r.scope)
                .bind(r.received_at)
                .bind($crate::date_to_text(r.due_on))
                .bind(r.extended_to.map($crate::date_to_text))
                .bind(r.extension_reason.as_deref())
                .bind(&r.status)
                .bind(i32::from(r.restricts))
                .bind(r.restricted_until.map($crate::date_to_text))
                .bind(r.decision_reason.as_deref())
                .bind(r.decided_at)
                .bind(&r.decided_by)
                .bind(r.instance.as_ref().map(|i| i.as_bytes().to_vec()))
                .bind(r.details_item.as_ref().map(|i| i.as_bytes().to_vec()))
                .bind(&r.created_by)
                .bind(&r.lang)
                .execute(&mut *tx)
                .await?;
            Ok(())
        }

        fn optional_id<T>(row: &$row, column: &str, make: fn(&[u8]) -> Option<T>) -> Result<Option<T>, StoreError> {
            let bytes: Option<Vec<u8>> = get(row, column)?;
            bytes.map(|b| make(&b).ok_or_else(|| corrupt(column))).transpose()
        }

        fn rights_request_from_row(r: &$row) -> Result<RightsRequest, StoreError> {
            let restricts: i32 = get(r, "restricts")?;
            Ok(RightsRequest {
                id: id_from(r, "id", RightsRequestId::from_slice)?,
                subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                kind: get(r, "kind")?,
                channel: get(r, "channel")?,
                scope: get(r, "scope")?,
                received_at: get(r, "received_at")?,
                due_on: date_col(r, "due_on")?.ok_or_else(|| corrupt("due_on"))?,
                extended_to: date_col(r, "extended_to")?,
                extension_reason: get(r, "extension_reason")?,
                status: get(r, "status")?,
                restricts: restricts != 0,
                restricted_until: date_col(r, "restricted_until")?,
                decision_reason: get(r, "decision_reason")?,
                decided_at: get(r, "decided_at")?,
                decided_by: get(r, "decided_by")?,
                instance: optional_id(r, "instance_id", PurposeInstanceId::from_slice)?,
                details_item: optional_id(r, "details_item_id", ItemId::from_slice)?,
                created_by: get(r, "created_by")?,
                lang: get(r, "lang")?,
            })
        }

        pub(crate) async fn rights_requests(
            pool: &$pool,
            open: bool,
            limit: u32,
        ) -> Result<Vec<RightsRequest>, StoreError> {
            let sql = if open { statements::OPEN } else { statements::CLOSED };
            let rows = sqlx::query(sql).bind(i64::from(limit)).fetch_all(pool).await.map_err(error)?;
            rows.iter().map(rights_request_from_row).collect()
        }

        pub(crate) async fn rights_request(
            pool: &$pool,
            id: RightsRequestId,
        ) -> Result<Option<RightsRequest>, StoreError> {
            let row = sqlx::query(statements::ONE)
                .bind(id.as_bytes().as_slice())
                .fetch_optional(pool)
                .await
                .map_err(error)?;
            row.as_ref().map(rights_request_from_row).transpose()
        }

        pub(crate) async fn rights_requests_of(
            pool: &$pool,
            subject: SubjectId,
        ) -> Result<Vec<RightsRequest>, StoreError> {
            let rows = sqlx::query(statements::OF_SUBJECT)
                .bind(subject.as_bytes().as_slice())
                .fetch_all(pool)
                .await
                .map_err(error)?;
            rows.iter().map(rights_request_from_row).collect()
        }
    };
}

/// Reads of subjects' rows for one subject (the access report, an erasure) or for a page of them at
/// once (the retention sweep), with one SQL text and one row mapping for both, written once for
/// both backends: expands, in an adapter crate, to `Whose`, `query_of`, `items`, `purposes`,
/// `consents`, `email_indexes` and `rows_of_subjects`. `$many` is the backend's condition for a
/// list of ids bound as one parameter, and `$bind_many` makes that parameter. It uses the adapter's
/// own `get`, `id_from`, `date_col`, `error`, `corrupt`, `consent_from_row`, and the ledger's
/// `certification_messages` and `participations_of`.
#[macro_export]
// `crate::ledger` is meant: the adapter's own ledger module.
#[allow(clippy::crate_in_macro_def)]
macro_rules! subjects_adapter {
    (
        $db:ty,
        $row:ty,
        $pool:ty,
        many = $many:literal,
        bind_many = $bind_many:expr
    ) => {
        use $crate::{
            ConsentRecord, ItemId, PurposeInstance, PurposeInstanceId, StoreError, StoredItem, SubjectId, SubjectRows,
        };

        /// Whose rows a read is for. Many subjects are bound as one parameter, so the statement
        /// text stays the same whatever the page's size.
        #[derive(Clone, Copy)]
        pub(crate) enum Whose<'a> {
            One(SubjectId),
            Many(&'a [SubjectId]),
        }

        /// `<select> WHERE <column>` matching `whose`, then `<tail>`, with its parameter bound.
        pub(crate) fn query_of<'q>(
            whose: Whose<'_>,
            select: &str,
            column: &str,
            tail: &str,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            match whose {
                Whose::One(s) => sqlx::query(sqlx::AssertSqlSafe(format!("{select} WHERE {column} = $1 {tail}")))
                    .bind(s.as_bytes().to_vec()),
                Whose::Many(ids) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!("{select} WHERE {column} {} {tail}", $many)))
                        .bind($bind_many(ids))
                }
            }
        }

        pub(crate) async fn items(pool: &$pool, whose: Whose<'_>) -> Result<Vec<StoredItem>, StoreError> {
            let select = "SELECT id, subject_id, category, source, collected_at, value FROM items";
            let rows = query_of(whose, select, "subject_id", "ORDER BY id").fetch_all(pool).await.map_err(error)?;
            rows.iter()
                .map(|r| {
                    Ok(StoredItem {
                        id: id_from(r, "id", ItemId::from_slice)?,
                        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                        category: get(r, "category")?,
                        source: get(r, "source")?,
                        collected_at: get(r, "collected_at")?,
                        value: get(r, "value")?,
                    })
                })
                .collect()
        }

        pub(crate) async fn purposes(pool: &$pool, whose: Whose<'_>) -> Result<Vec<PurposeInstance>, StoreError> {
            let select = "SELECT id, subject_id, purpose, basis, anchor, anchor_date, retain_until, started_at, \
                 ended_at, end_reason, notice_version, categories, item_ids FROM purpose_instances";
            let rows = query_of(whose, select, "subject_id", "ORDER BY id").fetch_all(pool).await.map_err(error)?;
            rows.iter()
                .map(|r: &$row| {
                    let id = id_from(r, "id", PurposeInstanceId::from_slice)?;
                    Ok(PurposeInstance {
                        id,
                        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                        purpose: get(r, "purpose")?,
                        basis: get(r, "basis")?,
                        anchor: get(r, "anchor")?,
                        anchor_date: date_col(r, "anchor_date")?,
                        retain_until: date_col(r, "retain_until")?,
                        started_at: get(r, "started_at")?,
                        ended_at: get(r, "ended_at")?,
                        end_reason: get(r, "end_reason")?,
                        notice_version: get(r, "notice_version")?,
                        categories: $crate::sql::categories_from_column(&get::<String>(r, "categories")?),
                        items: $crate::sql::item_ids_from_column(get(r, "item_ids")?)
                            .ok_or_else(|| corrupt("purpose instance"))?,
                    })
                })
                .collect()
        }

        pub(crate) async fn consents(pool: &$pool, whose: Whose<'_>) -> Result<Vec<ConsentRecord>, StoreError> {
            let rows = query_of(whose, $crate::sql::consents::SELECT, "subject_id", "ORDER BY id")
                .fetch_all(pool)
                .await
                .map_err(error)?;
            rows.iter().map(consent_from_row).collect()
        }

        pub(crate) async fn email_indexes(
            pool: &$pool,
            whose: Whose<'_>,
        ) -> Result<Vec<(SubjectId, Vec<u8>)>, StoreError> {
            let rows = query_of(whose, "SELECT id, email_index FROM subjects", "id", "AND email_index IS NOT NULL")
                .fetch_all(pool)
                .await
                .map_err(error)?;
            rows.iter().map(|r| Ok((id_from(r, "id", SubjectId::from_slice)?, get(r, "email_index")?))).collect()
        }

        /// Everything the retention sweep reads of `subjects`, the reads running side by side.
        pub(crate) async fn rows_of_subjects(pool: &$pool, subjects: &[SubjectId]) -> Result<SubjectRows, StoreError> {
            let whose = Whose::Many(subjects);
            let (purposes, items, messages, participations, consents, email_indexes, disclosures) = $crate::__tokio::try_join!(
                purposes(pool, whose),
                items(pool, whose),
                crate::ledger::certification_messages(pool, crate::ledger::MessagesOf::Subjects(whose)),
                crate::ledger::participations_of(pool, whose),
                consents(pool, whose),
                email_indexes(pool, whose),
                crate::ledger::disclosures_of(pool, whose),
            )?;
            Ok(SubjectRows { purposes, items, messages, participations, consents, email_indexes, disclosures })
        }
    };
}
