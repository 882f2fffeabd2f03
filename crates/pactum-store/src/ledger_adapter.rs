//! The disclosure ledger and the certification records, written once for both backends (see
//! [`ledger_adapter!`](crate::ledger_adapter)).

/// The disclosure ledger (P08–P12), the Art. 19 notices (L4) and the certification records
/// (P15–P17): the partner's messages to a session's exam proctor and the participation records.
/// Each row hangs on the purpose instance it was made under and goes with it. Expands, in an adapter
/// crate, to its `ledger` functions over that crate's connection, row and pool types:
/// `$begin_claim` opens the transaction that leases due notices and `$skip_locked` ends its
/// sub-select (so that nodes do not wait on each other's leases); `$many` is the backend's condition
/// for a list of ids bound as one parameter, which `$bind_ids` makes from the ids' bytes. It uses the
/// adapter's own `subjects::{Whose, query_of}`, `ApplyError`, `corrupt`, `date_col`, `error`, `get`
/// and `id_from`.
#[macro_export]
// `crate::` is meant: the adapter's own modules.
#[allow(clippy::crate_in_macro_def)]
macro_rules! ledger_adapter {
    (
        $connection:ty,
        $row:ty,
        $pool:ty,
        begin_claim = $begin_claim:literal,
        skip_locked = $skip_locked:literal,
        many = $many:literal,
        bind_ids = $bind_ids:expr
    ) => {
        use $crate::*;

        use crate::subjects::{Whose, query_of};
        use crate::{ApplyError, corrupt, date_col, error, get, id_from};

        pub(crate) async fn record_disclosures(tx: &mut $connection, entries: &[Disclosure]) -> Result<(), ApplyError> {
            for d in entries {
                sqlx::query(
                    "INSERT INTO disclosures (id, batch_id, recipient, purpose, basis, categories, subject_id, instance_id, \
                     activity_id, reference, statute, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(d.id.as_bytes().as_slice())
                .bind(d.batch.as_bytes().as_slice())
                .bind(&d.recipient)
                .bind(&d.purpose)
                .bind(&d.basis)
                .bind(d.categories.join(","))
                .bind(d.subject.as_bytes().as_slice())
                .bind(d.instance.as_bytes().as_slice())
                .bind(d.activity.map(|a| a.as_bytes().to_vec()))
                .bind(&d.reference)
                .bind(&d.statute)
                .bind(&d.actor)
                .bind(d.at)
                .execute(&mut *tx)
                .await?;
            }
            Ok(())
        }

        pub(crate) async fn put_certification_message(
            tx: &mut $connection,
            m: &CertificationMessage,
        ) -> Result<(), ApplyError> {
            sqlx::query(
                "INSERT INTO certification_messages (id, session_id, enrolment_id, subject_id, instance_id, kind, sealed, \
                 received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(m.id.as_bytes().as_slice())
            .bind(m.session.as_bytes().as_slice())
            .bind(m.enrolment.as_bytes().as_slice())
            .bind(m.subject.as_bytes().as_slice())
            .bind(m.instance.as_bytes().as_slice())
            .bind(&m.kind)
            .bind(&m.sealed)
            .bind(m.received_at)
            .execute(&mut *tx)
            .await?;
            Ok(())
        }

        pub(crate) async fn put_participation(tx: &mut $connection, p: &Participation) -> Result<(), ApplyError> {
            sqlx::query(
                "INSERT INTO participations (enrolment_id, subject_id, instance_id, course_id, ends_on, passed, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (enrolment_id) DO UPDATE SET passed = excluded.passed, recorded_at = excluded.recorded_at",
            )
            .bind(p.enrolment.as_bytes().as_slice())
            .bind(p.subject.as_bytes().as_slice())
            .bind(p.instance.as_bytes().as_slice())
            .bind(p.course.as_bytes().as_slice())
            .bind(date_to_text(p.ends_on))
            .bind(&p.passed)
            .bind(p.recorded_at)
            .execute(&mut *tx)
            .await?;
            Ok(())
        }

        fn disclosure_from_row(r: &$row) -> Result<Disclosure, StoreError> {
            let categories: String = get(r, "categories")?;
            let activity: Option<Vec<u8>> = get(r, "activity_id")?;
            Ok(Disclosure {
                id: id_from(r, "id", DisclosureId::from_slice)?,
                batch: id_from(r, "batch_id", |b| Uuid::from_slice(b).ok())?,
                recipient: get(r, "recipient")?,
                purpose: get(r, "purpose")?,
                basis: get(r, "basis")?,
                categories: categories.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
                subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
                activity: activity.map(|a| Uuid::from_slice(&a).map_err(|_| corrupt("activity_id"))).transpose()?,
                reference: get(r, "reference")?,
                statute: get(r, "statute")?,
                actor: get(r, "actor")?,
                at: get(r, "at")?,
            })
        }

        /// The ledger's entries for one recipient made between `from` and `to`, oldest first.
        pub(crate) async fn disclosures_to(
            pool: &$pool,
            recipient: &str,
            from: Micros,
            to: Micros,
        ) -> Result<Vec<Disclosure>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, batch_id, recipient, purpose, basis, categories, subject_id, instance_id, activity_id, reference, \
                 statute, actor, at FROM disclosures WHERE recipient = $1 AND at >= $2 AND at <= $3 ORDER BY at, id",
            )
            .bind(recipient)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .map_err(error)?;
            rows.iter().map(disclosure_from_row).collect()
        }

        pub(crate) async fn disclosures_of(pool: &$pool, whose: Whose<'_>) -> Result<Vec<Disclosure>, StoreError> {
            let rows = query_of(
                whose,
                "SELECT id, batch_id, recipient, purpose, basis, categories, subject_id, instance_id, activity_id, reference, \
                 statute, actor, at FROM disclosures",
                "subject_id",
                "ORDER BY at, id",
            )
            .fetch_all(pool)
            .await
            .map_err(error)?;
            rows.iter().map(disclosure_from_row).collect()
        }

        /// Which certification messages to read.
        pub(crate) enum MessagesOf<'a> {
            Session(SessionId),
            Subjects(Whose<'a>),
            One(CertificationMessageId),
        }

        pub(crate) async fn certification_messages(
            pool: &$pool,
            of: MessagesOf<'_>,
        ) -> Result<Vec<CertificationMessage>, StoreError> {
            let query = match &of {
                MessagesOf::Session(s) => {
                    sqlx::query("SELECT id, session_id, enrolment_id, subject_id, instance_id, kind, sealed, received_at FROM certification_messages WHERE session_id = $1 ORDER BY received_at, id").bind(s.as_bytes().to_vec())
                }
                MessagesOf::Subjects(whose) => query_of(*whose, "SELECT id, session_id, enrolment_id, subject_id, instance_id, kind, sealed, received_at FROM certification_messages", "subject_id", "ORDER BY received_at, id"),
                MessagesOf::One(id) => sqlx::query("SELECT id, session_id, enrolment_id, subject_id, instance_id, kind, sealed, received_at FROM certification_messages WHERE id = $1").bind(id.as_bytes().to_vec()),
            };
            let rows = query.fetch_all(pool).await.map_err(error)?;
            rows.iter()
                .map(|r: &$row| {
                    Ok(CertificationMessage {
                        id: id_from(r, "id", CertificationMessageId::from_slice)?,
                        session: id_from(r, "session_id", SessionId::from_slice)?,
                        enrolment: id_from(r, "enrolment_id", EnrolmentId::from_slice)?,
                        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                        instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
                        kind: get(r, "kind")?,
                        sealed: get(r, "sealed")?,
                        received_at: get(r, "received_at")?,
                    })
                })
                .collect()
        }

        pub(crate) async fn participations_of(pool: &$pool, whose: Whose<'_>) -> Result<Vec<Participation>, StoreError> {
            let rows = query_of(
                whose,
                "SELECT enrolment_id, subject_id, instance_id, course_id, ends_on, passed, recorded_at FROM participations",
                "subject_id",
                "ORDER BY ends_on, enrolment_id",
            )
            .fetch_all(pool)
            .await
            .map_err(error)?;
            rows.iter()
                .map(|r: &$row| {
                    Ok(Participation {
                        enrolment: id_from(r, "enrolment_id", EnrolmentId::from_slice)?,
                        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
                        instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
                        course: id_from(r, "course_id", CourseId::from_slice)?,
                        ends_on: date_col(r, "ends_on")?.ok_or_else(|| corrupt("ends_on"))?,
                        passed: get(r, "passed")?,
                        recorded_at: get(r, "recorded_at")?,
                    })
                })
                .collect()
        }

        // ---- Art. 19 notifications to recipients (L4) ---------------------------------------------------

        pub(crate) async fn queue_notifications(
            tx: &mut $connection,
            notifications: &[RecipientNotification],
        ) -> Result<(), ApplyError> {
            for n in notifications {
                sqlx::query(
                    "INSERT INTO recipient_notifications (id, recipient, channel, kind, reference, disclosed_at, subject_ref, \
                     status, attempts, created_at, next_attempt_at, delivered_at, last_error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(n.id.as_bytes().as_slice())
                .bind(&n.recipient)
                .bind(&n.channel)
                .bind(&n.kind)
                .bind(&n.reference)
                .bind(n.disclosed_at)
                .bind(&n.subject_ref)
                .bind(&n.status)
                .bind(i64::from(n.attempts))
                .bind(n.created_at)
                .bind(n.next_attempt_at)
                .bind(n.delivered_at)
                .bind(&n.last_error)
                .execute(&mut *tx)
                .await?;
            }
            Ok(())
        }

        pub(crate) async fn notification_delivered(
            tx: &mut $connection,
            id: NotificationId,
            at: Micros,
        ) -> Result<(), ApplyError> {
            sqlx::query(
                "UPDATE recipient_notifications SET status = 'delivered', delivered_at = $1, attempts = attempts + 1, \
                 last_error = NULL WHERE id = $2",
            )
            .bind(at)
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
            Ok(())
        }

        pub(crate) async fn notification_failed(
            tx: &mut $connection,
            id: NotificationId,
            attempts: u32,
            next_attempt_at: Micros,
            give_up: bool,
            error: &str,
        ) -> Result<(), ApplyError> {
            sqlx::query(
                "UPDATE recipient_notifications SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $5",
            )
            .bind(if give_up { "failed" } else { "pending" })
            .bind(i64::from(attempts))
            .bind(next_attempt_at)
            .bind(error)
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
            Ok(())
        }

        fn notification_from_row(r: &$row) -> Result<RecipientNotification, StoreError> {
            let attempts: i64 = get(r, "attempts")?;
            Ok(RecipientNotification {
                id: id_from(r, "id", NotificationId::from_slice)?,
                recipient: get(r, "recipient")?,
                channel: get(r, "channel")?,
                kind: get(r, "kind")?,
                reference: get(r, "reference")?,
                disclosed_at: get(r, "disclosed_at")?,
                subject_ref: get(r, "subject_ref")?,
                status: get(r, "status")?,
                attempts: u32::try_from(attempts).map_err(|_| corrupt("attempts"))?,
                created_at: get(r, "created_at")?,
                next_attempt_at: get(r, "next_attempt_at")?,
                delivered_at: get(r, "delivered_at")?,
                last_error: get(r, "last_error")?,
            })
        }

        /// Leases up to `limit` due notifications until `lease_until` (by moving their next attempt), so
        /// that only one worker on any node sends each.
        pub(crate) async fn claim_notifications(
            pool: &$pool,
            now: Micros,
            lease_until: Micros,
            limit: u32,
        ) -> Result<Vec<RecipientNotification>, StoreError> {
            let mut tx = pool.begin_with($begin_claim).await.map_err(error)?;
            let rows = sqlx::query(concat!(
                "UPDATE recipient_notifications SET next_attempt_at = $1 WHERE id IN (SELECT id FROM recipient_notifications \
                 WHERE status = 'pending' AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3",
                $skip_locked,
                ") RETURNING ",
                "id, recipient, channel, kind, reference, disclosed_at, subject_ref, status, attempts, created_at, next_attempt_at, delivered_at, last_error"
            ))
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(error)?;
            tx.commit().await.map_err(error)?;
            let mut claimed = rows.iter().map(notification_from_row).collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|n| (n.created_at, n.id));
            Ok(claimed)
        }

        /// Settled notifications whose retention counts from before `before`, oldest first.
        pub(crate) async fn settled_notifications(
            pool: &$pool,
            before: Micros,
            limit: u32,
        ) -> Result<Vec<RecipientNotification>, StoreError> {
            let rows = sqlx::query(concat!(
                "SELECT ",
                "id, recipient, channel, kind, reference, disclosed_at, subject_ref, status, attempts, created_at, next_attempt_at, delivered_at, last_error",
                " FROM recipient_notifications WHERE status <> 'pending' AND COALESCE(delivered_at, created_at) < $1 \
                 ORDER BY COALESCE(delivered_at, created_at), id LIMIT $2"
            ))
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(error)?;
            rows.iter().map(notification_from_row).collect()
        }

        /// Deletes the notifications `ids`.
        pub(crate) async fn delete_notifications(tx: &mut $connection, ids: &[NotificationId]) -> Result<(), ApplyError> {
            let ids: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
            sqlx::query(concat!("DELETE FROM recipient_notifications WHERE id ", $many))
                .bind($bind_ids(ids))
                .execute(&mut *tx)
                .await?;
            Ok(())
        }

        /// The newest notifications first, at most `limit`.
        pub(crate) async fn notifications(pool: &$pool, limit: u32) -> Result<Vec<RecipientNotification>, StoreError> {
            let rows = sqlx::query(concat!(
                "SELECT ",
                "id, recipient, channel, kind, reference, disclosed_at, subject_ref, status, attempts, created_at, next_attempt_at, delivered_at, last_error",
                " FROM recipient_notifications ORDER BY created_at DESC, id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(error)?;
            rows.iter().map(notification_from_row).collect()
        }

        /// Entries in the ledger per recipient and purpose: how many, and the newest.
        pub(crate) async fn disclosure_counts(pool: &$pool) -> Result<Vec<DisclosureCount>, StoreError> {
            let rows = sqlx::query(
                "SELECT recipient, purpose, COUNT(*) AS entries, MAX(at) AS newest FROM disclosures \
                 GROUP BY recipient, purpose ORDER BY recipient, purpose",
            )
            .fetch_all(pool)
            .await
            .map_err(error)?;
            rows.iter()
                .map(|r| {
                    let entries: i64 = get(r, "entries")?;
                    Ok(DisclosureCount {
                        recipient: get(r, "recipient")?,
                        purpose: get(r, "purpose")?,
                        entries: u64::try_from(entries).map_err(|_| corrupt("entries"))?,
                        newest: get(r, "newest")?,
                    })
                })
                .collect()
        }
    };
}
