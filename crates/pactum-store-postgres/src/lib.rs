//! The PostgreSQL backend, for scale.
//!
//! Same contract and schema as SQLite, with PostgreSQL types (BYTEA, BIGINT, TEXT only, so the
//! SQL stays portable to PostgreSQL-compatible distributed stores). Commits use the server's
//! default `synchronous_commit = on`, so an acknowledged change is on disk. Several nodes can run
//! against one database: each node writes its own audit chain (see docs/operations.md).

use std::str::FromStr;
use std::time::Duration;

use pactum_store::sql::{categories_column, forget, item_ids_column};
use pactum_store::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};

mod incidents;
mod ledger;
mod orders;
mod rights;
mod subjects;

use subjects::Whose;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct PgBackend {
    pool: PgPool,
}

fn error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) => StoreError::Database(db.message().to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("unreadable {what}"))
}

impl PgBackend {
    /// Connects to `url` (`postgres://…`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<PgBackend, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Connects with prepared options (tests use them to isolate each case in its own schema).
    /// Creates a schema of its own, named `prefix` and a fresh id, and connects to the database at
    /// `url` with that schema as the search path: for tests and benchmarks, which must not share
    /// tables. Returns the backend and the schema's name.
    pub async fn connect_to_new_schema(url: &str, prefix: &str) -> Result<(PgBackend, String), StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        let schema = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::ConnectOptions::connect(&options).await.map_err(error)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .map_err(error)?;
        let _ = sqlx::Connection::close(conn).await;
        let backend = Self::connect_with(options.options([("search_path", schema.as_str())])).await?;
        Ok((backend, schema))
    }

    pub async fn connect_with(options: PgConnectOptions) -> Result<PgBackend, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(error)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let backend = PgBackend { pool };
        backend.ensure_consent_partitions().await?;
        Ok(backend)
    }

    /// Creates the cookie-consent log's partitions for this month and the next two, unless they
    /// exist. A month whose decisions already went to the default partition (a database migrated
    /// mid-month) keeps them there; its partition is then simply not created.
    pub async fn ensure_consent_partitions(&self) -> Result<(), StoreError> {
        let today = time::OffsetDateTime::now_utc().date();
        let mut month = time::Date::from_calendar_date(today.year(), today.month(), 1)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for _ in 0..3 {
            let next = next_month(month)?;
            let micros = |d: time::Date| d.midnight().assume_utc().unix_timestamp() * 1_000_000;
            let name = format!("cookie_consents_y{}m{:02}", month.year(), u8::from(month.month()));
            let exists: Option<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                                    WHERE c.relname = $1 AND n.nspname = current_schema()",
            )
            .bind(&name)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
            if exists.is_none() {
                // Only digits and the fixed name go into the statement.
                let sql = format!(
                    "CREATE TABLE {name} PARTITION OF cookie_consents FOR VALUES FROM ({}) TO ({})",
                    micros(month),
                    micros(next)
                );
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await {
                    tracing::debug!(partition = %name, error = %e, "a consent-log partition was not created");
                }
            }
            month = next;
        }
        Ok(())
    }

    /// The pool, for maintenance commands and tests that must reach the raw tables.
    pub fn raw_pool(&self) -> &PgPool {
        &self.pool
    }
}

fn next_month(first: time::Date) -> Result<time::Date, StoreError> {
    let (year, month) = if first.month() == time::Month::December {
        (first.year() + 1, time::Month::January)
    } else {
        (first.year(), first.month().next())
    };
    time::Date::from_calendar_date(year, month, 1).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Why one operation could not be applied.
enum ApplyError {
    Sql(sqlx::Error),
    Full,
    LeaseHeld,
    /// A single-use link was used already (by a concurrent request).
    AlreadyUsed,
}

impl From<sqlx::Error> for ApplyError {
    fn from(e: sqlx::Error) -> Self {
        ApplyError::Sql(e)
    }
}

fn apply_error(e: ApplyError) -> StoreError {
    match e {
        ApplyError::Sql(e) => error(e),
        ApplyError::Full => StoreError::Full,
        ApplyError::LeaseHeld => StoreError::LeaseHeld,
        ApplyError::AlreadyUsed => StoreError::Conflict("a single-use value was used already".into()),
    }
}

/// Runs one of the [`forget`] lists for `ids` as a single script: one round trip for twenty statements.
async fn forget_rows<'a>(
    tx: &mut PgConnection,
    statements: &[&str],
    ids: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(), ApplyError> {
    let script = forget::script(statements, &forget::literals(ids, |hex| format!("'\\x{hex}'::bytea")).join(", "));
    sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut *tx).await?;
    Ok(())
}

async fn apply_op(tx: &mut PgConnection, op: &Op) -> Result<(), ApplyError> {
    match op {
        Op::CreateSubject(s) => insert_subjects(tx, &[s]).await?,
        Op::PutItem(i) => insert_items(tx, &[i]).await?,
        Op::StartPurpose(p) => insert_purposes(tx, &[p]).await?,
        Op::SetRetention { instance, anchor_date, retain_until } => {
            sqlx::query("UPDATE purpose_instances SET anchor_date = $1, retain_until = $2 WHERE id = $3")
                .bind(date_to_text(*anchor_date))
                .bind(date_to_text(*retain_until))
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::EndPurpose { instance, ended_at, reason, retain_until } => {
            sqlx::query("UPDATE purpose_instances SET ended_at = $1, end_reason = $2, retain_until = $3 WHERE id = $4")
                .bind(ended_at)
                .bind(reason)
                .bind(date_to_text(*retain_until))
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::SetPurposeItems { instance, items } => {
            sqlx::query("UPDATE purpose_instances SET item_ids = $1 WHERE id = $2")
                .bind(item_ids_column(items))
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::DeleteItem(id) => {
            sqlx::query("DELETE FROM items WHERE id = $1").bind(id.as_bytes().as_slice()).execute(&mut *tx).await?;
        }
        Op::PutAccessLink(l) => {
            sqlx::query(
                "INSERT INTO access_links (hash, subject_id, kind, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&l.hash)
            .bind(l.subject.as_bytes().as_slice())
            .bind(&l.kind)
            .bind(l.expires_at)
            .bind(l.used_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::UseAccessLink { hash, at } => {
            let used = sqlx::query("UPDATE access_links SET used_at = $1 WHERE hash = $2 AND used_at IS NULL")
                .bind(at)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
            if used.rows_affected() == 0 {
                return Err(ApplyError::AlreadyUsed);
            }
        }
        Op::TakeLease { job, holder, now, until } => {
            let taken = sqlx::query(
                "INSERT INTO job_leases (job, holder, until) VALUES ($1, $2, $3) ON CONFLICT (job) DO UPDATE \
                 SET holder = excluded.holder, until = excluded.until \
                 WHERE job_leases.until < $4 OR job_leases.holder = excluded.holder",
            )
            .bind(job)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                return Err(ApplyError::LeaseHeld);
            }
        }
        Op::RememberRequest(request) => {
            sqlx::query(
                "INSERT INTO repeated_requests (key_hash, request_hash, outcome, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&request.key_hash)
            .bind(&request.request_hash)
            .bind(&request.outcome)
            .bind(request.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::ForgetExpiredRequests { now } => {
            sqlx::query("DELETE FROM repeated_requests WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
        }
        Op::ReleaseLease { job, holder } => {
            sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
                .bind(job)
                .bind(holder)
                .execute(&mut *tx)
                .await?;
        }
        Op::ForgetExpiredLeases { prefix, now } => {
            sqlx::query("DELETE FROM job_leases WHERE starts_with(job, $1) AND until < $2")
                .bind(prefix)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        Op::Suppress { email_index, purpose, since } => {
            sqlx::query(
                "INSERT INTO suppressions (email_index, purpose, since) VALUES ($1, $2, $3) ON CONFLICT (email_index) DO NOTHING",
            )
            .bind(email_index)
            .bind(purpose)
            .bind(since)
            .execute(&mut *tx)
            .await?;
        }
        Op::DeletePurpose(id) => forget_rows(tx, forget::PURPOSES, [id.as_bytes().as_slice()]).await?,
        Op::ShredSubjects(ids) if ids.is_empty() => {}
        Op::ShredSubjects(ids) => {
            forget_rows(tx, forget::SUBJECTS, ids.iter().map(|id| id.as_bytes().as_slice())).await?
        }
        Op::RecordDeletion(p) => insert_proofs(tx, &[p]).await?,
        Op::RewrapSubjectKey { subject, key } => {
            sqlx::query("UPDATE subject_keys SET master_key_id = $1, wrapped = $2 WHERE subject_id = $3")
                .bind(&key.master_key_id)
                .bind(&key.wrapped)
                .bind(subject.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::RewrapVaultKey(v) => {
            sqlx::query("UPDATE vault_keys SET master_key_id = $1, wrapped = $2 WHERE name = $3")
                .bind(&v.key.master_key_id)
                .bind(&v.key.wrapped)
                .bind(&v.name)
                .execute(&mut *tx)
                .await?;
        }
        Op::RecordCookieConsent(c) => insert_cookie_consents(tx, &[c]).await?,
        Op::EnqueueMail(m) => {
            sqlx::query(
                "INSERT INTO outbox (id, subject_id, kind, sealed, status, attempts, created_at, next_attempt_at, lease_until, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(m.id.as_bytes().as_slice())
            .bind(m.subject.as_bytes().as_slice())
            .bind(&m.kind)
            .bind(&m.sealed)
            .bind(m.status.key())
            .bind(i64::from(m.attempts))
            .bind(m.created_at)
            .bind(m.next_attempt_at)
            .bind(None::<i64>)
            .bind(m.sent_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::SetEmailIndex { subject, email_index } => {
            sqlx::query(pactum_store::sql::subjects::SET_EMAIL_INDEX)
                .bind(email_index.as_slice())
                .bind(subject.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::DeleteMailOf(subject) => {
            sqlx::query("DELETE FROM outbox WHERE subject_id = $1 AND kind <> 'rights_request'")
                .bind(subject.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::DeletePendingMail { subject, kind } => {
            sqlx::query("DELETE FROM outbox WHERE subject_id = $1 AND kind = $2 AND status = 'pending'")
                .bind(subject.as_bytes().as_slice())
                .bind(kind)
                .execute(&mut *tx)
                .await?;
        }
        Op::MailDelivered { id, at } => {
            sqlx::query(
                "UPDATE outbox SET status = 'sent', sealed = $1, sent_at = $2, lease_until = NULL WHERE id = $3",
            )
            .bind(Vec::<u8>::new())
            .bind(at)
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        }
        Op::MailAttemptFailed { id, attempts, next_attempt_at, give_up } => {
            if *give_up {
                sqlx::query(
                    "UPDATE outbox SET status = 'failed', sealed = $1, attempts = $2, lease_until = NULL WHERE id = $3",
                )
                .bind(Vec::<u8>::new())
                .bind(i64::from(*attempts))
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("UPDATE outbox SET attempts = $1, next_attempt_at = $2, lease_until = NULL WHERE id = $3")
                    .bind(i64::from(*attempts))
                    .bind(next_attempt_at)
                    .bind(id.as_bytes().as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Op::RecordConsent(c) => {
            sqlx::query(
                "INSERT INTO consents (id, subject_id, purpose, instance_id, state, lang, policy_version, text, text_hash, method, \
                 requested_at, confirmed_at, withdrawn_at, withdraw_method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(c.id.as_bytes().as_slice())
            .bind(c.subject.as_bytes().as_slice())
            .bind(&c.purpose)
            .bind(c.instance.as_bytes().as_slice())
            .bind(c.state.key())
            .bind(&c.lang)
            .bind(&c.policy_version)
            .bind(&c.text)
            .bind(&c.text_hash)
            .bind(&c.method)
            .bind(c.requested_at)
            .bind(c.confirmed_at)
            .bind(c.withdrawn_at)
            .bind(&c.withdraw_method)
            .execute(&mut *tx)
            .await?;
        }
        Op::ConfirmConsent { id, at } => {
            sqlx::query("UPDATE consents SET state = 'active', confirmed_at = $1 WHERE id = $2 AND state = 'pending'")
                .bind(at)
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::WithdrawConsent { id, at, method } => {
            sqlx::query(
                "UPDATE consents SET state = 'withdrawn', withdrawn_at = $1, withdraw_method = $2 WHERE id = $3 AND state <> 'withdrawn'",
            )
            .bind(at)
            .bind(method)
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        }
        Op::PutLinkToken(t) => {
            sqlx::query("INSERT INTO link_tokens (hash, subject_id, consent_id, kind, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&t.hash)
                .bind(t.subject.as_bytes().as_slice())
                .bind(t.consent.as_bytes().as_slice())
                .bind(&t.kind)
                .bind(t.expires_at)
                .bind(t.used_at)
                .execute(&mut *tx)
                .await?;
        }
        Op::UseLinkToken { hash, at } => {
            sqlx::query("UPDATE link_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL")
                .bind(at)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        Op::ClearRetention { instance } => {
            sqlx::query("UPDATE purpose_instances SET retain_until = NULL, anchor_date = NULL WHERE id = $1")
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::PutCourse(c) => {
            sqlx::query(
                "INSERT INTO courses (id, slug, title_da, title_en, summary_da, summary_en, delivered_by, certification, cancel_free_days, cancel_late_fee_percent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, title_da = excluded.title_da, title_en = excluded.title_en, \
                 summary_da = excluded.summary_da, summary_en = excluded.summary_en, delivered_by = excluded.delivered_by, \
                 certification = excluded.certification, cancel_free_days = excluded.cancel_free_days, \
                 cancel_late_fee_percent = excluded.cancel_late_fee_percent",
            )
            .bind(c.id.as_bytes().as_slice())
            .bind(&c.slug)
            .bind(&c.title_da)
            .bind(&c.title_en)
            .bind(&c.summary_da)
            .bind(&c.summary_en)
            .bind(&c.delivered_by)
            .bind(i64::from(c.certification))
            .bind(i64::from(c.cancel_free_days))
            .bind(i64::from(c.cancel_late_fee_percent))
            .execute(&mut *tx)
            .await?;
        }
        Op::PutSession(s) => {
            sqlx::query(
                "INSERT INTO course_sessions (id, course_id, starts_on, ends_on, location, online, language, price_ore, seats, instructor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET course_id = excluded.course_id, starts_on = excluded.starts_on, ends_on = excluded.ends_on, \
                 location = excluded.location, online = excluded.online, language = excluded.language, price_ore = excluded.price_ore, \
                 seats = excluded.seats, instructor = excluded.instructor",
            )
            .bind(s.id.as_bytes().as_slice())
            .bind(s.course.as_bytes().as_slice())
            .bind(date_to_text(s.starts_on))
            .bind(date_to_text(s.ends_on))
            .bind(&s.location)
            .bind(i64::from(s.online))
            .bind(&s.language)
            .bind(s.price_ore)
            .bind(i64::from(s.seats))
            .bind(&s.instructor)
            .execute(&mut *tx)
            .await?;
        }
        Op::PutEvent(e) => {
            sqlx::query(
                "INSERT INTO events (id, slug, title_da, title_en, summary_da, summary_en, starts_on, ends_on, location, co_organiser, sponsor, seats) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, title_da = excluded.title_da, \
                 title_en = excluded.title_en, summary_da = excluded.summary_da, summary_en = excluded.summary_en, starts_on = excluded.starts_on, \
                 ends_on = excluded.ends_on, location = excluded.location, co_organiser = excluded.co_organiser, sponsor = excluded.sponsor, \
                 seats = excluded.seats",
            )
            .bind(e.id.as_bytes().as_slice())
            .bind(&e.slug)
            .bind(&e.title_da)
            .bind(&e.title_en)
            .bind(&e.summary_da)
            .bind(&e.summary_en)
            .bind(date_to_text(e.starts_on))
            .bind(date_to_text(e.ends_on))
            .bind(&e.location)
            .bind(&e.co_organiser)
            .bind(&e.sponsor)
            .bind(i64::from(e.seats))
            .execute(&mut *tx)
            .await?;
        }
        Op::Enrol { enrolment: e, seats } => {
            claim_seats(tx, e.activity, 1, *seats).await?;
            insert_enrolments(tx, &[e]).await?;
        }
        Op::PutStaff(a) => {
            sqlx::query(
                "INSERT INTO staff_accounts (id, username, role, password_hash, totp_secret, failed_logins, locked_until, setup_hash, setup_expires_at, created_at, disabled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO UPDATE SET username = excluded.username, role = excluded.role, \
                 password_hash = excluded.password_hash, totp_secret = excluded.totp_secret, failed_logins = excluded.failed_logins, \
                 locked_until = excluded.locked_until, setup_hash = excluded.setup_hash, setup_expires_at = excluded.setup_expires_at, \
                 disabled_at = excluded.disabled_at",
            )
            .bind(a.id.as_bytes().as_slice())
            .bind(&a.username)
            .bind(&a.role)
            .bind(&a.password_hash)
            .bind(&a.totp_secret)
            .bind(i64::from(a.failed_logins))
            .bind(a.locked_until)
            .bind(&a.setup_hash)
            .bind(a.setup_expires_at)
            .bind(a.created_at)
            .bind(a.disabled_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::StaffLoginFailed { staff, lock_after, locked_until } => {
            sqlx::query(
                "UPDATE staff_accounts SET failed_logins = failed_logins + 1, \
                 locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3",
            )
            .bind(i64::from(*lock_after))
            .bind(locked_until)
            .bind(staff.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        }
        Op::StaffLoginSucceeded { staff, totp_step } => {
            let updated = sqlx::query(
                "UPDATE staff_accounts SET failed_logins = 0, locked_until = NULL, totp_last_step = $1 \
                 WHERE id = $2 AND totp_last_step < $1",
            )
            .bind(totp_step)
            .bind(staff.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(ApplyError::AlreadyUsed);
            }
        }
        Op::PutStaffSession(s) => {
            sqlx::query(
                "INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&s.token_hash)
            .bind(s.staff.as_bytes().as_slice())
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::DeleteStaffSession { token_hash } => {
            sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *tx).await?;
        }
        Op::DeleteExpiredStaffSessions { expired_before } => {
            sqlx::query("DELETE FROM staff_sessions WHERE expires_at < $1")
                .bind(expired_before)
                .execute(&mut *tx)
                .await?;
        }
        Op::PutApiToken(t) => {
            sqlx::query(
                "INSERT INTO api_tokens (id, token_hash, name, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(t.id.as_bytes().as_slice())
            .bind(&t.token_hash)
            .bind(&t.name)
            .bind(&t.scopes)
            .bind(t.created_at)
            .bind(t.revoked_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::RevokeApiToken { id, at } => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::PutOrder(o) => orders::put_order(tx, o).await?,
        Op::UpdateOrder { id, expected, status, payment_status, at } => {
            orders::update_order(tx, *id, expected, status, payment_status, *at).await?
        }
        Op::IssueInvoice(i) => orders::issue_invoice(tx, i).await?,
        Op::RecordPayment(event) => orders::record_payment(tx, event).await?,
        Op::JoinWaitingList(entry) => orders::join_waiting_list(tx, entry).await?,
        Op::WaitingNotified { id, at } => orders::waiting_notified(tx, *id, *at).await?,
        Op::CancelEnrolment { id, activity, at } => orders::cancel_enrolment(tx, *id, *activity, *at).await?,
        Op::RecordDisclosures(entries) => ledger::record_disclosures(tx, entries).await?,
        Op::PutCertificationMessage(m) => ledger::put_certification_message(tx, m).await?,
        Op::PutParticipation(p) => ledger::put_participation(tx, p).await?,
        Op::QueueNotifications(n) => ledger::queue_notifications(tx, n).await?,
        Op::PutIncident(i) => incidents::put_incident(tx, i).await?,
        Op::PutRightsRequest(r) => rights::put_rights_request(tx, r).await?,
        Op::NotificationDelivered { id, at } => ledger::notification_delivered(tx, *id, *at).await?,
        Op::NotificationFailed { id, attempts, next_attempt_at, give_up, error } => {
            ledger::notification_failed(tx, *id, *attempts, *next_attempt_at, *give_up, error).await?
        }
        Op::DeleteNotifications(ids) => ledger::delete_notifications(tx, ids).await?,
        Op::DeleteIncident(id) => incidents::delete_incident(tx, *id).await?,
        Op::ActivatePolicy(a) => {
            sqlx::query("INSERT INTO policy_activations (version, source_digest, cookie_version, activated_at) VALUES ($1, $2, $3, $4)")
                .bind(&a.version)
                .bind(&a.source_digest)
                .bind(&a.cookie_version)
                .bind(a.activated_at)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Rows per multi-row INSERT; keeps the bound parameters well under every backend's limit.
const ROWS_PER_INSERT: usize = 500;

/// One column of `rows`, as the array an `UNNEST` insert binds.
fn column<'a, T, V>(rows: &[&'a T], value: impl Fn(&'a T) -> V) -> Vec<V> {
    rows.iter().map(|row| value(row)).collect()
}

/// A batch's audit entries, and the chain's head moved to `head`, in one statement whose text never
/// changes: the rows go as one array per column, so PostgreSQL plans it once per connection,
/// whatever the batch's size.
async fn insert_audit(tx: &mut PgConnection, entries: &[&AuditEntry], head: &AuditHead) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH logged AS (INSERT INTO audit_log (chain, seq, at, actor, action, subject_ref, details, prev_hash, hash) \
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::bytea[], $9::bytea[])) \
         INSERT INTO audit_heads (chain, seq, hash, mac) VALUES ($10, $11, $12, $13) \
         ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
    )
    .bind(column(entries, |e| e.chain.as_str()))
    .bind(column(entries, |e| e.seq as i64))
    .bind(column(entries, |e| e.at))
    .bind(column(entries, |e| e.actor.as_str()))
    .bind(column(entries, |e| e.action.as_str()))
    .bind(column(entries, |e| e.subject_ref.as_deref()))
    .bind(column(entries, |e| e.details.as_str()))
    .bind(column(entries, |e| e.prev_hash.as_slice()))
    .bind(column(entries, |e| e.hash.as_slice()))
    .bind(&head.chain)
    .bind(head.seq as i64)
    .bind(&head.hash)
    .bind(&head.mac)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Claims `count` seats on an activity in one statement, or fails with `Full` when fewer are left
/// than `seats` allows; a batch claims each activity's seats together, not one by one.
async fn claim_seats(tx: &mut PgConnection, activity: Uuid, count: u32, seats: u32) -> Result<(), ApplyError> {
    sqlx::query("INSERT INTO seat_counts (activity_id, taken) VALUES ($1, 0) ON CONFLICT (activity_id) DO NOTHING")
        .bind(activity.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    let claimed = sqlx::query("UPDATE seat_counts SET taken = taken + $1 WHERE activity_id = $2 AND taken + $1 <= $3")
        .bind(i64::from(count))
        .bind(activity.as_bytes().as_slice())
        .bind(i64::from(seats))
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() == 0 {
        return Err(ApplyError::Full);
    }
    Ok(())
}

async fn insert_subjects(tx: &mut PgConnection, subjects: &[&NewSubject]) -> Result<(), sqlx::Error> {
    for chunk in subjects.chunks(ROWS_PER_INSERT) {
        let mut insert =
            sqlx::QueryBuilder::<sqlx::Postgres>::new("INSERT INTO subjects (id, email_index, created_at) ");
        insert.push_values(chunk, |mut row, s| {
            row.push_bind(s.id.as_bytes().as_slice()).push_bind(s.email_index.as_deref()).push_bind(s.created_at);
        });
        insert.build().execute(&mut *tx).await?;
        let mut keys =
            sqlx::QueryBuilder::<sqlx::Postgres>::new("INSERT INTO subject_keys (subject_id, master_key_id, wrapped) ");
        keys.push_values(chunk, |mut row, s| {
            row.push_bind(s.id.as_bytes().as_slice()).push_bind(&s.key.master_key_id).push_bind(&s.key.wrapped);
        });
        keys.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_items(tx: &mut PgConnection, items: &[&StoredItem]) -> Result<(), sqlx::Error> {
    for chunk in items.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO items (id, subject_id, category, source, collected_at, value) ",
        );
        insert.push_values(chunk, |mut row, i| {
            row.push_bind(i.id.as_bytes().as_slice())
                .push_bind(i.subject.as_bytes().as_slice())
                .push_bind(&i.category)
                .push_bind(&i.source)
                .push_bind(i.collected_at)
                .push_bind(&i.value);
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_purposes(tx: &mut PgConnection, purposes: &[&PurposeInstance]) -> Result<(), sqlx::Error> {
    for chunk in purposes.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO purpose_instances (id, subject_id, purpose, basis, anchor, anchor_date, retain_until, started_at, ended_at, end_reason, notice_version, categories, item_ids) ",
        );
        insert.push_values(chunk, |mut row, p| {
            row.push_bind(p.id.as_bytes().as_slice())
                .push_bind(p.subject.as_bytes().as_slice())
                .push_bind(&p.purpose)
                .push_bind(&p.basis)
                .push_bind(&p.anchor)
                .push_bind(p.anchor_date.map(date_to_text))
                .push_bind(p.retain_until.map(date_to_text))
                .push_bind(p.started_at)
                .push_bind(p.ended_at)
                .push_bind(&p.end_reason)
                .push_bind(&p.notice_version)
                .push_bind(categories_column(&p.categories))
                .push_bind(item_ids_column(&p.items));
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

async fn insert_enrolments(tx: &mut PgConnection, enrolments: &[&Enrolment]) -> Result<(), sqlx::Error> {
    for chunk in enrolments.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO enrolments (id, activity_id, kind, subject_id, instance_id, certification_instance_id, sponsor_consent_id, created_at, cancelled_at) ",
        );
        insert.push_values(chunk, |mut row, e| {
            row.push_bind(e.id.as_bytes().as_slice())
                .push_bind(e.activity.as_bytes().as_slice())
                .push_bind(&e.kind)
                .push_bind(e.subject.as_bytes().as_slice())
                .push_bind(e.instance.as_bytes().as_slice())
                .push_bind(e.certification.map(|i| i.as_bytes().to_vec()))
                .push_bind(e.sponsor_consent.map(|i| i.as_bytes().to_vec()))
                .push_bind(e.created_at)
                .push_bind(e.cancelled_at);
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Rows of one batch that are only inserted, gathered to be written many per statement. Inserts
/// depend on nothing else in the batch; any other operation first writes what is gathered.
#[derive(Default)]
struct Bulk<'a> {
    subjects: Vec<&'a NewSubject>,
    items: Vec<&'a StoredItem>,
    purposes: Vec<&'a PurposeInstance>,
    enrolments: Vec<&'a Enrolment>,
    consents: Vec<&'a CookieConsent>,
    proofs: Vec<&'a DeletionProof>,
    /// Seats to claim per activity: (activity, how many, the seat limit).
    seat_claims: Vec<(Uuid, u32, u32)>,
}

impl<'a> Bulk<'a> {
    /// Gathers `op` if it is a plain insert; false when it must be applied in order.
    fn gather(&mut self, op: &'a Op) -> bool {
        match op {
            Op::CreateSubject(s) => self.subjects.push(s),
            Op::PutItem(i) => self.items.push(i),
            Op::StartPurpose(p) => self.purposes.push(p),
            Op::RecordCookieConsent(c) => self.consents.push(c),
            Op::RecordDeletion(p) => self.proofs.push(p),
            Op::Enrol { enrolment, seats } => {
                match self.seat_claims.iter_mut().find(|(activity, _, _)| *activity == enrolment.activity) {
                    Some((_, count, limit)) => {
                        *count += 1;
                        *limit = (*limit).min(*seats);
                    }
                    None => self.seat_claims.push((enrolment.activity, 1, *seats)),
                }
                self.enrolments.push(enrolment);
            }
            _ => return false,
        }
        true
    }

    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), ApplyError> {
        for (activity, count, seats) in std::mem::take(&mut self.seat_claims) {
            claim_seats(tx, activity, count, seats).await?;
        }
        insert_subjects(tx, &std::mem::take(&mut self.subjects)).await?;
        insert_items(tx, &std::mem::take(&mut self.items)).await?;
        insert_purposes(tx, &std::mem::take(&mut self.purposes)).await?;
        insert_enrolments(tx, &std::mem::take(&mut self.enrolments)).await?;
        insert_cookie_consents(tx, &std::mem::take(&mut self.consents)).await?;
        insert_proofs(tx, &std::mem::take(&mut self.proofs)).await?;
        Ok(())
    }
}

/// Deletion proofs, many per statement: a page of the retention sweep writes one per person.
async fn insert_proofs(tx: &mut PgConnection, proofs: &[&DeletionProof]) -> Result<(), sqlx::Error> {
    for chunk in proofs.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO deletion_proofs (id, at, record_class, subject_ref, rule, content_hash) ",
        );
        insert.push_values(chunk, |mut row, p| {
            row.push_bind(p.id.as_bytes().as_slice())
                .push_bind(p.at)
                .push_bind(&p.record_class)
                .push_bind(&p.subject_ref)
                .push_bind(&p.rule)
                .push_bind(&p.content_hash);
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Cookie-consent decisions, the highest-volume rows, many per statement.
async fn insert_cookie_consents(tx: &mut PgConnection, consents: &[&CookieConsent]) -> Result<(), sqlx::Error> {
    if consents.is_empty() {
        return Ok(());
    }
    // One array per column, as for the audit entries: the busiest insert is planned once.
    sqlx::query(
        "INSERT INTO cookie_consents (receipt, device, granted, method, cookie_version, policy_version, ip_prefix, \
         decided_at) SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::int8[])",
    )
    .bind(column(consents, |c| c.receipt.as_bytes().as_slice()))
    .bind(column(consents, |c| c.device.as_slice()))
    .bind(column(consents, |c| c.granted.as_str()))
    .bind(column(consents, |c| c.method.as_str()))
    .bind(column(consents, |c| c.cookie_version.as_str()))
    .bind(column(consents, |c| c.policy_version.as_str()))
    .bind(column(consents, |c| c.ip_prefix.as_str()))
    .bind(column(consents, |c| c.decided_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn id_from<T>(row: &PgRow, column: &str, make: fn(&[u8]) -> Option<T>) -> Result<T, StoreError> {
    let bytes: Vec<u8> = row.try_get(column).map_err(|_| corrupt(column))?;
    make(&bytes).ok_or_else(|| corrupt(column))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(column).map_err(|_| corrupt(column))
}

fn mail_from_row(r: &sqlx::postgres::PgRow) -> Result<OutboxMail, StoreError> {
    let status: String = get(r, "status")?;
    let attempts: i64 = get(r, "attempts")?;
    Ok(OutboxMail {
        id: id_from(r, "id", MailId::from_slice)?,
        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
        kind: get(r, "kind")?,
        sealed: get(r, "sealed")?,
        status: MailStatus::from_key(&status).ok_or_else(|| corrupt("status"))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at: get(r, "created_at")?,
        next_attempt_at: get(r, "next_attempt_at")?,
        sent_at: get(r, "sent_at")?,
    })
}

const CONSENT_SELECT_BY_ID: &str = "SELECT id, subject_id, purpose, instance_id, state, lang, policy_version, text, text_hash, method, requested_at, confirmed_at, withdrawn_at, withdraw_method FROM consents WHERE id = $1";
const CONSENT_SELECT_ACTIVE: &str = "SELECT id, subject_id, purpose, instance_id, state, lang, policy_version, text, text_hash, method, requested_at, confirmed_at, withdrawn_at, withdraw_method FROM consents WHERE purpose = $1 AND state = 'active' ORDER BY id";

fn consent_from_row(r: &PgRow) -> Result<ConsentRecord, StoreError> {
    let state: String = get(r, "state")?;
    Ok(ConsentRecord {
        id: id_from(r, "id", ConsentId::from_slice)?,
        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
        purpose: get(r, "purpose")?,
        instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
        state: ConsentState::from_key(&state).ok_or_else(|| corrupt("state"))?,
        lang: get(r, "lang")?,
        policy_version: get(r, "policy_version")?,
        text: get(r, "text")?,
        text_hash: get(r, "text_hash")?,
        method: get(r, "method")?,
        requested_at: get(r, "requested_at")?,
        confirmed_at: get(r, "confirmed_at")?,
        withdrawn_at: get(r, "withdrawn_at")?,
        withdraw_method: get(r, "withdraw_method")?,
    })
}

const ENROLMENT_SELECT_BY_ACTIVITY: &str = "SELECT id, activity_id, kind, subject_id, instance_id, certification_instance_id, sponsor_consent_id, created_at, cancelled_at FROM enrolments WHERE activity_id = $1 ORDER BY id";
const ENROLMENT_SELECT_BY_SUBJECT: &str = "SELECT id, activity_id, kind, subject_id, instance_id, certification_instance_id, sponsor_consent_id, created_at, cancelled_at FROM enrolments WHERE subject_id = $1 ORDER BY id";

fn enrolment_from_row(r: &PgRow) -> Result<Enrolment, StoreError> {
    let optional = |column: &str| -> Result<Option<Vec<u8>>, StoreError> { get(r, column) };
    Ok(Enrolment {
        id: id_from(r, "id", EnrolmentId::from_slice)?,
        activity: id_from(r, "activity_id", |b| Uuid::from_slice(b).ok())?,
        kind: get(r, "kind")?,
        subject: id_from(r, "subject_id", SubjectId::from_slice)?,
        instance: id_from(r, "instance_id", PurposeInstanceId::from_slice)?,
        certification: optional("certification_instance_id")?.and_then(|b| PurposeInstanceId::from_slice(&b)),
        sponsor_consent: optional("sponsor_consent_id")?.and_then(|b| ConsentId::from_slice(&b)),
        created_at: get(r, "created_at")?,
        cancelled_at: get(r, "cancelled_at")?,
    })
}

fn cookie_consent_from_row(r: &PgRow) -> Result<CookieConsent, StoreError> {
    Ok(CookieConsent {
        receipt: id_from(r, "receipt", ReceiptId::from_slice)?,
        device: get(r, "device")?,
        granted: get(r, "granted")?,
        method: get(r, "method")?,
        cookie_version: get(r, "cookie_version")?,
        policy_version: get(r, "policy_version")?,
        ip_prefix: get(r, "ip_prefix")?,
        decided_at: get(r, "decided_at")?,
    })
}

fn date_col(row: &PgRow, column: &str) -> Result<Option<time::Date>, StoreError> {
    let text: Option<String> = get(row, column)?;
    text.map(|t| date_from_text(&t).ok_or_else(|| corrupt(column))).transpose()
}

/// A query over staff accounts: the column list, then `$tail` (a WHERE or ORDER BY clause).
macro_rules! staff_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, username, role, password_hash, totp_secret, failed_logins, locked_until, setup_hash, \
             setup_expires_at, created_at, disabled_at FROM staff_accounts ",
            $tail
        )
    };
}

macro_rules! api_token_select {
    ($tail:literal) => {
        concat!("SELECT id, token_hash, name, scopes, created_at, revoked_at FROM api_tokens ", $tail)
    };
}

fn staff_from_row(r: &PgRow) -> Result<StaffAccount, StoreError> {
    let failed: i64 = get(r, "failed_logins")?;
    Ok(StaffAccount {
        id: id_from(r, "id", StaffId::from_slice)?,
        username: get(r, "username")?,
        role: get(r, "role")?,
        password_hash: get(r, "password_hash")?,
        totp_secret: get(r, "totp_secret")?,
        failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until: get(r, "locked_until")?,
        setup_hash: get(r, "setup_hash")?,
        setup_expires_at: get(r, "setup_expires_at")?,
        created_at: get(r, "created_at")?,
        disabled_at: get(r, "disabled_at")?,
    })
}

fn api_token_from_row(r: &PgRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: id_from(r, "id", ApiTokenId::from_slice)?,
        token_hash: get(r, "token_hash")?,
        name: get(r, "name")?,
        scopes: get(r, "scopes")?,
        created_at: get(r, "created_at")?,
        revoked_at: get(r, "revoked_at")?,
    })
}

impl Backend for PgBackend {
    async fn apply_batch(&self, batch: &[PreparedChange], head: &AuditHead) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        let mut bulk = Bulk::default();
        for prepared in batch {
            for op in &prepared.change.ops {
                if !bulk.gather(op) {
                    bulk.flush(&mut tx).await.map_err(apply_error)?;
                    apply_op(&mut tx, op).await.map_err(apply_error)?;
                }
            }
        }
        bulk.flush(&mut tx).await.map_err(apply_error)?;
        let entries: Vec<&AuditEntry> = batch.iter().flat_map(|p| p.entries.iter()).collect();
        insert_audit(&mut tx, &entries, head).await.map_err(error)?;
        tx.commit().await.map_err(error)
    }

    async fn bootstrap_vault_keys(&self, keys: &[VaultKeyRecord]) -> Result<Vec<VaultKeyRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        // Nodes starting together must agree on one set of keys.
        sqlx::query("LOCK TABLE vault_keys IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await.map_err(error)?;
        let existing: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM vault_keys").fetch_one(&mut *tx).await.map_err(error)?;
        if existing == 0 {
            for k in keys {
                sqlx::query("INSERT INTO vault_keys (name, master_key_id, wrapped) VALUES ($1, $2, $3)")
                    .bind(&k.name)
                    .bind(&k.key.master_key_id)
                    .bind(&k.key.wrapped)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
        }
        tx.commit().await.map_err(error)?;
        self.vault_keys().await
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(error).map(|_| ())
    }

    async fn vault_keys(&self) -> Result<Vec<VaultKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, master_key_id, wrapped FROM vault_keys ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter()
            .map(|r| {
                Ok(VaultKeyRecord {
                    name: get(r, "name")?,
                    key: WrappedKey { master_key_id: get(r, "master_key_id")?, wrapped: get(r, "wrapped")? },
                })
            })
            .collect()
    }

    async fn subject_by_email_index(&self, index: &[u8]) -> Result<Option<SubjectId>, StoreError> {
        let row = sqlx::query("SELECT id FROM subjects WHERE email_index = $1")
            .bind(index)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.map(|r| id_from(&r, "id", SubjectId::from_slice)).transpose()
    }

    async fn subjects_by_email_indexes(&self, indexes: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, SubjectId)>, StoreError> {
        let rows = sqlx::query("SELECT email_index, id FROM subjects WHERE email_index = ANY($1)")
            .bind(indexes)
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter().map(|r| Ok((get(r, "email_index")?, id_from(r, "id", SubjectId::from_slice)?))).collect()
    }

    async fn subject_key(&self, subject: SubjectId) -> Result<Option<WrappedKey>, StoreError> {
        let row = sqlx::query("SELECT master_key_id, wrapped FROM subject_keys WHERE subject_id = $1")
            .bind(subject.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.map(|r| Ok(WrappedKey { master_key_id: get(&r, "master_key_id")?, wrapped: get(&r, "wrapped")? }))
            .transpose()
    }

    async fn subject_keys_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> Result<Vec<(SubjectId, WrappedKey)>, StoreError> {
        let after = after.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        let rows = sqlx::query("SELECT subject_id, master_key_id, wrapped FROM subject_keys WHERE subject_id > $1 ORDER BY subject_id LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    id_from(r, "subject_id", SubjectId::from_slice)?,
                    WrappedKey { master_key_id: get(r, "master_key_id")?, wrapped: get(r, "wrapped")? },
                ))
            })
            .collect()
    }

    async fn items_of(&self, subject: SubjectId) -> Result<Vec<StoredItem>, StoreError> {
        subjects::items(&self.pool, Whose::One(subject)).await
    }

    async fn purposes_of(&self, subject: SubjectId) -> Result<Vec<PurposeInstance>, StoreError> {
        subjects::purposes(&self.pool, Whose::One(subject)).await
    }

    async fn rows_of_subjects(&self, subjects: &[SubjectId]) -> Result<SubjectRows, StoreError> {
        subjects::rows_of_subjects(&self.pool, subjects).await
    }

    async fn access_link(&self, hash: &[u8]) -> Result<Option<AccessLink>, StoreError> {
        let row = sqlx::query("SELECT hash, subject_id, kind, expires_at, used_at FROM access_links WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.map(|r| {
            Ok(AccessLink {
                hash: get(&r, "hash")?,
                subject: id_from(&r, "subject_id", SubjectId::from_slice)?,
                kind: get(&r, "kind")?,
                expires_at: get(&r, "expires_at")?,
                used_at: get(&r, "used_at")?,
            })
        })
        .transpose()
    }

    async fn remembered_request(&self, key_hash: &[u8]) -> Result<Option<RememberedRequest>, StoreError> {
        let row = sqlx::query(
            "SELECT key_hash, request_hash, outcome, expires_at FROM repeated_requests WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.map(|r| {
            Ok(RememberedRequest {
                key_hash: get(&r, "key_hash")?,
                request_hash: get(&r, "request_hash")?,
                outcome: get(&r, "outcome")?,
                expires_at: get(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    async fn live_leases(&self, prefix: &str, now: Micros) -> Result<Vec<Lease>, StoreError> {
        let rows = sqlx::query(
            "SELECT job, holder, until FROM job_leases WHERE starts_with(job, $1) AND until >= $2 ORDER BY job",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter()
            .map(|r| Ok(Lease { job: get(r, "job")?, holder: get(r, "holder")?, until: get(r, "until")? }))
            .collect()
    }

    async fn email_index_of(&self, subject: SubjectId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT email_index FROM subjects WHERE id = $1")
            .bind(subject.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        Ok(row.map(|r| get::<Option<Vec<u8>>>(&r, "email_index")).transpose()?.flatten())
    }

    async fn suppression(&self, email_index: &[u8]) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT purpose FROM suppressions WHERE email_index = $1")
            .bind(email_index)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.map(|r| get(&r, "purpose")).transpose()
    }

    async fn count_subjects_with_expired_purposes(&self, today: time::Date) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(pactum_store::sql::subjects::COUNT_WITH_EXPIRED_PURPOSES)
            .bind(date_to_text(today))
            .fetch_one(&self.pool)
            .await
            .map_err(error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn subjects_with_expired_purposes(
        &self,
        today: time::Date,
        after: Option<SubjectId>,
        limit: u32,
    ) -> Result<Vec<SubjectId>, StoreError> {
        let after: Vec<u8> = after.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
        let rows = sqlx::query("SELECT DISTINCT subject_id FROM purpose_instances WHERE retain_until < $1 AND subject_id > $2 ORDER BY subject_id LIMIT $3")
            .bind(date_to_text(today))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter().map(|r| id_from(r, "subject_id", SubjectId::from_slice)).collect()
    }

    async fn deletion_proofs_of(&self, subject_ref: &str) -> Result<Vec<DeletionProof>, StoreError> {
        let rows = sqlx::query("SELECT id, at, record_class, subject_ref, rule, content_hash FROM deletion_proofs WHERE subject_ref = $1 ORDER BY id")
            .bind(subject_ref)
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter()
            .map(|r| {
                Ok(DeletionProof {
                    id: id_from(r, "id", ProofId::from_slice)?,
                    at: get(r, "at")?,
                    record_class: get(r, "record_class")?,
                    subject_ref: get(r, "subject_ref")?,
                    rule: get(r, "rule")?,
                    content_hash: get(r, "content_hash")?,
                })
            })
            .collect()
    }

    async fn audit_heads(&self) -> Result<Vec<AuditHead>, StoreError> {
        let rows = sqlx::query("SELECT chain, seq, hash, mac FROM audit_heads ORDER BY chain")
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter()
            .map(|r| {
                let seq: i64 = get(r, "seq")?;
                Ok(AuditHead { chain: get(r, "chain")?, seq: seq as u64, hash: get(r, "hash")?, mac: get(r, "mac")? })
            })
            .collect()
    }

    async fn audit_entries(&self, chain: &str, after: u64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT chain, seq, at, actor, action, subject_ref, details, prev_hash, hash FROM audit_log \
             WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(after as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter()
            .map(|r| {
                let seq: i64 = get(r, "seq")?;
                Ok(AuditEntry {
                    chain: get(r, "chain")?,
                    seq: seq as u64,
                    at: get(r, "at")?,
                    actor: get(r, "actor")?,
                    action: get(r, "action")?,
                    subject_ref: get(r, "subject_ref")?,
                    details: get(r, "details")?,
                    prev_hash: get(r, "prev_hash")?,
                    hash: get(r, "hash")?,
                })
            })
            .collect()
    }

    async fn cookie_consents_of_device(&self, device: &[u8]) -> Result<Vec<CookieConsent>, StoreError> {
        let rows = sqlx::query(
            "SELECT receipt, device, granted, method, cookie_version, policy_version, ip_prefix, decided_at FROM cookie_consents \
             WHERE device = $1 ORDER BY decided_at, receipt",
        )
        .bind(device)
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter().map(cookie_consent_from_row).collect()
    }

    async fn cookie_consent(&self, receipt: ReceiptId) -> Result<Option<CookieConsent>, StoreError> {
        let row = sqlx::query(
            "SELECT receipt, device, granted, method, cookie_version, policy_version, ip_prefix, decided_at FROM cookie_consents WHERE receipt = $1",
        )
        .bind(receipt.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.as_ref().map(cookie_consent_from_row).transpose()
    }

    async fn claim_mail(&self, now: Micros, lease_until: Micros, limit: u32) -> Result<Vec<OutboxMail>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(error)?;
        let rows = sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
             AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, subject_id, kind, sealed, status, attempts, created_at, next_attempt_at, sent_at",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        let mut claimed = rows.iter().map(mail_from_row).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(claimed)
    }

    async fn mail(&self, id: MailId) -> Result<Option<OutboxMail>, StoreError> {
        let row = sqlx::query(
            "SELECT id, subject_id, kind, sealed, status, attempts, created_at, next_attempt_at, sent_at FROM outbox WHERE id = $1",
        )
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.as_ref().map(mail_from_row).transpose()
    }

    async fn consent(&self, id: ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        let row = sqlx::query(CONSENT_SELECT_BY_ID)
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(consent_from_row).transpose()
    }

    async fn consents_of(&self, subject: SubjectId) -> Result<Vec<ConsentRecord>, StoreError> {
        subjects::consents(&self.pool, Whose::One(subject)).await
    }

    async fn active_consents(&self, purpose: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = sqlx::query(CONSENT_SELECT_ACTIVE).bind(purpose).fetch_all(&self.pool).await.map_err(error)?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn link_token(&self, hash: &[u8]) -> Result<Option<LinkToken>, StoreError> {
        let row = sqlx::query(
            "SELECT hash, subject_id, consent_id, kind, expires_at, used_at FROM link_tokens WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.map(|r| {
            Ok(LinkToken {
                hash: get(&r, "hash")?,
                subject: id_from(&r, "subject_id", SubjectId::from_slice)?,
                consent: id_from(&r, "consent_id", ConsentId::from_slice)?,
                kind: get(&r, "kind")?,
                expires_at: get(&r, "expires_at")?,
                used_at: get(&r, "used_at")?,
            })
        })
        .transpose()
    }

    async fn courses(&self) -> Result<Vec<Course>, StoreError> {
        let rows = sqlx::query("SELECT id, slug, title_da, title_en, summary_da, summary_en, delivered_by, certification, cancel_free_days, cancel_late_fee_percent FROM courses ORDER BY slug")
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter()
            .map(|r| {
                let certification: i64 = get(r, "certification")?;
                let free_days: i64 = get(r, "cancel_free_days")?;
                let late_fee: i64 = get(r, "cancel_late_fee_percent")?;
                Ok(Course {
                    cancel_free_days: u32::try_from(free_days).map_err(|_| corrupt("cancel_free_days"))?,
                    cancel_late_fee_percent: u32::try_from(late_fee).map_err(|_| corrupt("cancel_late_fee_percent"))?,
                    id: id_from(r, "id", CourseId::from_slice)?,
                    slug: get(r, "slug")?,
                    title_da: get(r, "title_da")?,
                    title_en: get(r, "title_en")?,
                    summary_da: get(r, "summary_da")?,
                    summary_en: get(r, "summary_en")?,
                    delivered_by: get(r, "delivered_by")?,
                    certification: certification != 0,
                })
            })
            .collect()
    }

    async fn sessions(&self) -> Result<Vec<CourseSession>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, course_id, starts_on, ends_on, location, online, language, price_ore, seats, instructor FROM course_sessions ORDER BY starts_on, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter()
            .map(|r| {
                let online: i64 = get(r, "online")?;
                let seats: i64 = get(r, "seats")?;
                Ok(CourseSession {
                    id: id_from(r, "id", SessionId::from_slice)?,
                    course: id_from(r, "course_id", CourseId::from_slice)?,
                    starts_on: date_col(r, "starts_on")?.ok_or_else(|| corrupt("starts_on"))?,
                    ends_on: date_col(r, "ends_on")?.ok_or_else(|| corrupt("ends_on"))?,
                    location: get(r, "location")?,
                    online: online != 0,
                    language: get(r, "language")?,
                    price_ore: get(r, "price_ore")?,
                    seats: u32::try_from(seats).map_err(|_| corrupt("seats"))?,
                    instructor: get(r, "instructor")?,
                })
            })
            .collect()
    }

    async fn events(&self) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, slug, title_da, title_en, summary_da, summary_en, starts_on, ends_on, location, co_organiser, sponsor, seats \
             FROM events ORDER BY starts_on, slug",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter()
            .map(|r| {
                let seats: i64 = get(r, "seats")?;
                Ok(Event {
                    id: id_from(r, "id", EventId::from_slice)?,
                    slug: get(r, "slug")?,
                    title_da: get(r, "title_da")?,
                    title_en: get(r, "title_en")?,
                    summary_da: get(r, "summary_da")?,
                    summary_en: get(r, "summary_en")?,
                    starts_on: date_col(r, "starts_on")?.ok_or_else(|| corrupt("starts_on"))?,
                    ends_on: date_col(r, "ends_on")?.ok_or_else(|| corrupt("ends_on"))?,
                    location: get(r, "location")?,
                    co_organiser: get(r, "co_organiser")?,
                    sponsor: get(r, "sponsor")?,
                    seats: u32::try_from(seats).map_err(|_| corrupt("seats"))?,
                })
            })
            .collect()
    }

    async fn seats_taken(&self, activity: Uuid) -> Result<u32, StoreError> {
        let taken: Option<i64> = sqlx::query_scalar("SELECT taken FROM seat_counts WHERE activity_id = $1")
            .bind(activity.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        Ok(u32::try_from(taken.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    async fn enrolments_of(&self, activity: Uuid) -> Result<Vec<Enrolment>, StoreError> {
        let rows = sqlx::query(ENROLMENT_SELECT_BY_ACTIVITY)
            .bind(activity.as_bytes().as_slice())
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter().map(enrolment_from_row).collect()
    }

    async fn enrolments_of_subject(&self, subject: SubjectId) -> Result<Vec<Enrolment>, StoreError> {
        let rows = sqlx::query(ENROLMENT_SELECT_BY_SUBJECT)
            .bind(subject.as_bytes().as_slice())
            .fetch_all(&self.pool)
            .await
            .map_err(error)?;
        rows.iter().map(enrolment_from_row).collect()
    }

    async fn staff_accounts(&self) -> Result<Vec<StaffAccount>, StoreError> {
        let rows = sqlx::query(staff_select!("ORDER BY username")).fetch_all(&self.pool).await.map_err(error)?;
        rows.iter().map(staff_from_row).collect()
    }

    async fn staff_by_username(&self, username: &str) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(staff_select!("WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(staff_from_row).transpose()
    }

    async fn staff_by_setup_hash(&self, hash: &[u8]) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(staff_select!("WHERE setup_hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(staff_from_row).transpose()
    }

    async fn staff_account(&self, id: StaffId) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(staff_select!("WHERE id = $1"))
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(staff_from_row).transpose()
    }

    async fn staff_session(&self, token_hash: &[u8]) -> Result<Option<StaffSession>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, staff_id, created_at, expires_at FROM staff_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(error)?;
        row.map(|r| {
            Ok(StaffSession {
                token_hash: get(&r, "token_hash")?,
                staff: id_from(&r, "staff_id", StaffId::from_slice)?,
                created_at: get(&r, "created_at")?,
                expires_at: get(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows =
            sqlx::query(api_token_select!("ORDER BY created_at, id")).fetch_all(&self.pool).await.map_err(error)?;
        rows.iter().map(api_token_from_row).collect()
    }

    async fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(api_token_select!("WHERE token_hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.as_ref().map(api_token_from_row).transpose()
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        orders::order(&self.pool, id).await
    }

    async fn orders_of_buyer(&self, buyer: SubjectId) -> Result<Vec<Order>, StoreError> {
        orders::orders_of_buyer(&self.pool, buyer).await
    }

    async fn invoice(&self, id: InvoiceId) -> Result<Option<Invoice>, StoreError> {
        orders::invoice(&self.pool, id).await
    }

    async fn invoices_of_order(&self, order: OrderId) -> Result<Vec<Invoice>, StoreError> {
        orders::invoices_of(&self.pool, orders::InvoicesOf::Order(order)).await
    }

    async fn invoices_after(&self, after: u64, limit: u32) -> Result<Vec<Invoice>, StoreError> {
        orders::invoices_of(&self.pool, orders::InvoicesOf::After { number: after, limit }).await
    }

    async fn invoices_of_buyer(&self, buyer: SubjectId) -> Result<Vec<Invoice>, StoreError> {
        orders::invoices_of(&self.pool, orders::InvoicesOf::Buyer(buyer)).await
    }

    async fn maintain(&self) -> Result<(), StoreError> {
        self.ensure_consent_partitions().await
    }

    async fn disclosures_of(&self, subject: SubjectId) -> Result<Vec<Disclosure>, StoreError> {
        ledger::disclosures_of(&self.pool, Whose::One(subject)).await
    }

    async fn certification_messages_of_session(
        &self,
        session: SessionId,
    ) -> Result<Vec<CertificationMessage>, StoreError> {
        ledger::certification_messages(&self.pool, ledger::MessagesOf::Session(session)).await
    }

    async fn certification_messages_of_subject(
        &self,
        subject: SubjectId,
    ) -> Result<Vec<CertificationMessage>, StoreError> {
        ledger::certification_messages(&self.pool, ledger::MessagesOf::Subjects(Whose::One(subject))).await
    }

    async fn certification_message(
        &self,
        id: CertificationMessageId,
    ) -> Result<Option<CertificationMessage>, StoreError> {
        Ok(ledger::certification_messages(&self.pool, ledger::MessagesOf::One(id)).await?.pop())
    }

    async fn claim_notifications(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: u32,
    ) -> Result<Vec<RecipientNotification>, StoreError> {
        ledger::claim_notifications(&self.pool, now, lease_until, limit).await
    }

    async fn settled_notifications(
        &self,
        before: Micros,
        limit: u32,
    ) -> Result<Vec<RecipientNotification>, StoreError> {
        ledger::settled_notifications(&self.pool, before, limit).await
    }

    async fn notifications(&self, limit: u32) -> Result<Vec<RecipientNotification>, StoreError> {
        ledger::notifications(&self.pool, limit).await
    }

    async fn disclosure_counts(&self) -> Result<Vec<DisclosureCount>, StoreError> {
        ledger::disclosure_counts(&self.pool).await
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        incidents::incidents(&self.pool).await
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        incidents::incident(&self.pool, id).await
    }

    async fn rights_requests(&self, open: bool, limit: u32) -> Result<Vec<RightsRequest>, StoreError> {
        rights::rights_requests(&self.pool, open, limit).await
    }

    async fn rights_request(&self, id: RightsRequestId) -> Result<Option<RightsRequest>, StoreError> {
        rights::rights_request(&self.pool, id).await
    }

    async fn rights_requests_of(&self, subject: SubjectId) -> Result<Vec<RightsRequest>, StoreError> {
        rights::rights_requests_of(&self.pool, subject).await
    }

    async fn disclosures_to(&self, recipient: &str, from: Micros, to: Micros) -> Result<Vec<Disclosure>, StoreError> {
        ledger::disclosures_to(&self.pool, recipient, from, to).await
    }

    async fn participations_of(&self, subject: SubjectId) -> Result<Vec<Participation>, StoreError> {
        ledger::participations_of(&self.pool, Whose::One(subject)).await
    }

    async fn waiting_list(&self, session: SessionId) -> Result<Vec<WaitingEntry>, StoreError> {
        orders::waiting_list(&self.pool, session).await
    }

    async fn payment_event_applied(&self, event_id: &str) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT event_id FROM payment_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        Ok(found.is_some())
    }

    async fn latest_policy_activation(&self) -> Result<Option<PolicyActivation>, StoreError> {
        let row = sqlx::query("SELECT version, source_digest, cookie_version, activated_at FROM policy_activations ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(error)?;
        row.map(|r| {
            Ok(PolicyActivation {
                version: get(&r, "version")?,
                source_digest: get(&r, "source_digest")?,
                cookie_version: get(&r, "cookie_version")?,
                activated_at: get(&r, "activated_at")?,
            })
        })
        .transpose()
    }

    async fn schema_columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT IN (SELECT c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relispartition AND n.nspname = current_schema()) \
             ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(error)?;
        rows.iter().map(|r| Ok((get(r, "table_name")?, get(r, "column_name")?))).collect()
    }
}
