//! The SQLite backend, embedded and the default.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a committed transaction survives power
//! loss. Every write transaction starts with `BEGIN IMMEDIATE` on the single writer connection;
//! reads use a small pool of their own and never block it. Group commit happens in front of this
//! backend, in [`pactum_store::Store`]. A background connection checkpoints the log in small
//! steps, and the writer starts it again once it passes 64 MiB, so the log stays bounded under
//! steady load (see `run_checkpointer`).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pactum_store::sql::{categories_column, forget, item_ids_column};
use pactum_store::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{Notify, oneshot};

mod incidents;
mod ledger;
mod orders;
mod rights;
mod subjects;

use subjects::Whose;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct SqliteBackend {
    reader: SqlitePool,
    writer: SqlitePool,
    /// Dropped with the last clone of the backend, which stops the checkpointer.
    _checkpointer: Arc<oneshot::Sender<()>>,
    /// What the writer and the checkpointer tell each other about the log.
    log: Arc<LogState>,
}

/// What the writer and the checkpointer tell each other about the write-ahead log.
#[derive(Default)]
struct LogState {
    /// Told by the writer after each batch; wakes the checkpointer (a permit waits if it is busy).
    grown: Notify,
    /// Raised by the checkpointer when the log has grown too long; see [`run_checkpointer`].
    long: AtomicBool,
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

impl SqliteBackend {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<SqliteBackend, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Deleted content is overwritten, so erased rows do not linger in free pages.
            .pragma("secure_delete", "ON")
            // When the log starts again, its file is cut back to this size.
            .pragma("journal_size_limit", LOG_SIZE_LIMIT.to_string());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The checkpointer copies the log into the database file, so no commit waits for it.
            // Temporary tables (the ids being forgotten) stay in memory.
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0").pragma("temp_store", "MEMORY"))
            .await
            .map_err(error)?;
        MIGRATOR.run(&writer).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(error)?;
        let checkpointer = SqliteConnection::connect_with(&options).await.map_err(error)?;
        let (stop, stopped) = oneshot::channel();
        let log = Arc::new(LogState::default());
        tokio::spawn(run_checkpointer(checkpointer, log.clone(), stopped));
        Ok(SqliteBackend { reader, writer, _checkpointer: Arc::new(stop), log })
    }

    /// The writer pool, for maintenance commands and tests that must reach the raw tables.
    pub fn raw_pool(&self) -> &SqlitePool {
        &self.writer
    }
}

/// How often, at most, the checkpointer copies what the writer committed from the write-ahead log
/// into the database file; it runs only after a commit. Each checkpoint ends by syncing the
/// database file, and a commit that syncs the log meanwhile waits behind it: small, frequent
/// checkpoints keep that wait short (at 100 ms, an erasure's p99 on a store of a million people was
/// a quarter longer than at 10 ms).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(10);
/// The longest the checkpointer goes without a checkpoint, for writes made outside the writer's
/// batches (leases, claims), which do not tell [`LogState::grown`].
const CHECKPOINT_AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// The log's length, in pages, past which the checkpointer makes the writer start it again from
/// the beginning (at 4 KiB pages, 64 MiB).
const RESTART_LOG_AT_PAGES: i64 = 16 * 1024;
/// How long the writer waits for readers to leave the log before it starts it again; if one stays
/// longer, the next batch tries again.
const RESTART_PATIENCE_MS: u64 = 100;
/// How long a connection waits for a lock another one holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// What is left of the log's file once it starts again, in bytes.
const LOG_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Copies the write-ahead log into the database file in the background, on a connection of its
/// own. A passive checkpoint blocks neither the writer nor a reader, so no commit pays for it
/// (SQLite's automatic checkpoint would run inside whichever commit crossed its threshold).
///
/// Under a steady stream of commits a passive checkpoint never catches up with the log's end, and
/// SQLite starts the log again only once one has: the log would grow for as long as the stream
/// lasts (gigabytes in minutes), and every commit and read would slow down with it. So once the log
/// is longer than [`RESTART_LOG_AT_PAGES`], the checkpointer raises `log.long`, and the writer
/// starts the log again before its next batch ([`restart_log`]). Runs until `stop` is dropped.
async fn run_checkpointer(mut conn: SqliteConnection, log: Arc<LogState>, mut stop: oneshot::Receiver<()>) {
    loop {
        // An idle server sleeps here; a commit wakes it.
        tokio::select! {
            _ = &mut stop => break,
            _ = log.grown.notified() => {}
            _ = tokio::time::sleep(CHECKPOINT_AT_LEAST_EVERY) => {}
        }
        // While the log is too long the writer is about to copy the rest; a checkpoint here would
        // only hold it up.
        if !log.long.load(Ordering::Relaxed) {
            match checkpoint(&mut conn, "PASSIVE").await {
                Ok(done) if done.log_pages >= RESTART_LOG_AT_PAGES => log.long.store(true, Ordering::Relaxed),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a checkpoint of the write-ahead log failed; the next one retries")
                }
            }
        }
        // At most one checkpoint per interval: what is committed meanwhile waits for the next one.
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
    }
    let _ = conn.close().await;
}

/// What one checkpoint of the write-ahead log found.
struct Checkpoint {
    /// It could not finish: another connection held what it had to wait for.
    blocked: bool,
    /// The log's length, in pages.
    log_pages: i64,
}

/// Runs `PRAGMA wal_checkpoint(<mode>)` on `conn`.
async fn checkpoint(conn: &mut SqliteConnection, mode: &str) -> Result<Checkpoint, sqlx::Error> {
    // The row is (busy, pages in the log, pages copied).
    let (busy, log_pages, _): (i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("PRAGMA wal_checkpoint({mode})"))).fetch_one(conn).await?;
    Ok(Checkpoint { blocked: busy != 0, log_pages })
}

/// Copies the rest of the log into the database file and has the next commit write the log from
/// its start again (its file cut back to [`LOG_SIZE_LIMIT`]). Only the writer can: a checkpoint on
/// another connection would wait for a moment between the writer's transactions that, under load,
/// never comes. It waits at most [`RESTART_PATIENCE_MS`] for readers to leave the log; while one
/// stays, `log.long` stays raised and the next batch tries again.
async fn restart_log(writer: &mut SqliteConnection, log: &LogState) {
    let patience = |timeout: u128| sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {timeout}")));
    let restarted = match patience(u128::from(RESTART_PATIENCE_MS)).execute(&mut *writer).await {
        Ok(_) => checkpoint(writer, "RESTART").await,
        Err(e) => Err(e),
    };
    // Whatever happened, the writer waits for locks as long as before.
    let restored = patience(BUSY_TIMEOUT.as_millis()).execute(&mut *writer).await;
    match (restarted, restored) {
        (Ok(Checkpoint { blocked: false, .. }), Ok(_)) => log.long.store(false, Ordering::Relaxed),
        (Ok(_), Ok(_)) => tracing::debug!("a reader held the write-ahead log; the next batch starts it again"),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "the write-ahead log could not be started again; the next batch retries")
        }
    }
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

/// Ids as a JSON array of hex strings: a list bound as one parameter, which SQL reads back with
/// `SELECT unhex(value) FROM json_each(?)`. Hex digits need no escaping.
pub(crate) fn json_hex_array<'a>(ids: impl IntoIterator<Item = &'a [u8]>) -> String {
    let quoted: Vec<String> = ids.into_iter().map(|id| format!("\"{}\"", hex::encode(id))).collect();
    format!("[{}]", quoted.join(","))
}

/// One of the [`forget`] lists for `ids` as a single script: one round trip for twenty
/// statements; none when there are no ids. The ids are written once, into a temporary table of the
/// connection, and each statement reads them from there: SQLite would otherwise parse and sort the
/// whole list again for every statement. `extra` runs after the ids are in and before the
/// forgetting, over the same table (the benchmark's floor inserts its proofs there).
pub fn forget_script<'a>(statements: &[&str], ids: impl IntoIterator<Item = &'a [u8]>, extra: &str) -> Option<String> {
    let rows = forget::literals(ids, |hex| format!("(X'{hex}')"));
    if rows.is_empty() {
        return None;
    }
    let mut script = format!(
        "CREATE TEMP TABLE IF NOT EXISTS forget_ids (id BLOB PRIMARY KEY);\n\
         INSERT OR IGNORE INTO temp.forget_ids (id) VALUES {};\n{extra}",
        rows.join(", ")
    );
    script.push_str(&forget::script(statements, "SELECT id FROM temp.forget_ids"));
    script.push_str("DELETE FROM temp.forget_ids;\n");
    Some(script)
}

/// Runs [`forget_script`] for `ids` in the writer's transaction.
async fn forget_rows<'a>(
    tx: &mut SqliteConnection,
    statements: &[&str],
    ids: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(), ApplyError> {
    if let Some(script) = forget_script(statements, ids, "") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut *tx).await?;
    }
    Ok(())
}

async fn apply_op(tx: &mut SqliteConnection, op: &Op) -> Result<(), ApplyError> {
    match op {
        Op::CreateSubject(_)
        | Op::PutItem(_)
        | Op::StartPurpose(_)
        | Op::RecordCookieConsent(_)
        | Op::RecordDeletion(_) => {
            let mut bulk = Bulk::default();
            bulk.gather(op);
            bulk.flush(tx, None).await?;
        }
        Op::SetRetention { instance, anchor_date, retain_until } => {
            sqlx::query("UPDATE purpose_instances SET anchor_date = ?, retain_until = ? WHERE id = ?")
                .bind(date_to_text(*anchor_date))
                .bind(date_to_text(*retain_until))
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::EndPurpose { instance, ended_at, reason, retain_until } => {
            sqlx::query("UPDATE purpose_instances SET ended_at = ?, end_reason = ?, retain_until = ? WHERE id = ?")
                .bind(ended_at)
                .bind(reason)
                .bind(date_to_text(*retain_until))
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::SetPurposeItems { instance, items } => {
            sqlx::query("UPDATE purpose_instances SET item_ids = ? WHERE id = ?")
                .bind(item_ids_column(items))
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::DeleteItem(id) => {
            sqlx::query("DELETE FROM items WHERE id = ?").bind(id.as_bytes().as_slice()).execute(&mut *tx).await?;
        }
        Op::PutAccessLink(l) => {
            sqlx::query(
                "INSERT INTO access_links (hash, subject_id, kind, expires_at, used_at) VALUES (?, ?, ?, ?, ?)",
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
            let used = sqlx::query("UPDATE access_links SET used_at = ? WHERE hash = ? AND used_at IS NULL")
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
                "INSERT INTO job_leases (job, holder, until) VALUES (?, ?, ?) ON CONFLICT (job) DO UPDATE \
                 SET holder = excluded.holder, until = excluded.until \
                 WHERE job_leases.until < ? OR job_leases.holder = excluded.holder",
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
                "INSERT INTO repeated_requests (key_hash, request_hash, outcome, expires_at) VALUES (?, ?, ?, ?)",
            )
            .bind(&request.key_hash)
            .bind(&request.request_hash)
            .bind(&request.outcome)
            .bind(request.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::ForgetExpiredRequests { now } => {
            sqlx::query("DELETE FROM repeated_requests WHERE expires_at < ?").bind(now).execute(&mut *tx).await?;
        }
        Op::ReleaseLease { job, holder } => {
            sqlx::query("DELETE FROM job_leases WHERE job = ? AND holder = ?")
                .bind(job)
                .bind(holder)
                .execute(&mut *tx)
                .await?;
        }
        Op::ForgetExpiredLeases { prefix, now } => {
            sqlx::query("DELETE FROM job_leases WHERE substr(job, 1, length(?1)) = ?1 AND until < ?2")
                .bind(prefix)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        Op::Suppress { email_index, purpose, since } => {
            sqlx::query(
                "INSERT INTO suppressions (email_index, purpose, since) VALUES (?, ?, ?) ON CONFLICT (email_index) DO NOTHING",
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
        Op::RewrapSubjectKey { subject, key } => {
            sqlx::query("UPDATE subject_keys SET master_key_id = ?, wrapped = ? WHERE subject_id = ?")
                .bind(&key.master_key_id)
                .bind(&key.wrapped)
                .bind(subject.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::RewrapVaultKey(v) => {
            sqlx::query("UPDATE vault_keys SET master_key_id = ?, wrapped = ? WHERE name = ?")
                .bind(&v.key.master_key_id)
                .bind(&v.key.wrapped)
                .bind(&v.name)
                .execute(&mut *tx)
                .await?;
        }
        Op::EnqueueMail(m) => {
            sqlx::query(
                "INSERT INTO outbox (id, subject_id, kind, sealed, status, attempts, created_at, next_attempt_at, lease_until, sent_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            sqlx::query("DELETE FROM outbox WHERE subject_id = ? AND kind <> 'rights_request'")
                .bind(subject.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::DeletePendingMail { subject, kind } => {
            sqlx::query("DELETE FROM outbox WHERE subject_id = ? AND kind = ? AND status = 'pending'")
                .bind(subject.as_bytes().as_slice())
                .bind(kind)
                .execute(&mut *tx)
                .await?;
        }
        Op::MailDelivered { id, at } => {
            sqlx::query("UPDATE outbox SET status = 'sent', sealed = ?, sent_at = ?, lease_until = NULL WHERE id = ?")
                .bind(Vec::<u8>::new())
                .bind(at)
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::MailAttemptFailed { id, attempts, next_attempt_at, give_up } => {
            if *give_up {
                sqlx::query(
                    "UPDATE outbox SET status = 'failed', sealed = ?, attempts = ?, lease_until = NULL WHERE id = ?",
                )
                .bind(Vec::<u8>::new())
                .bind(i64::from(*attempts))
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("UPDATE outbox SET attempts = ?, next_attempt_at = ?, lease_until = NULL WHERE id = ?")
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
                 requested_at, confirmed_at, withdrawn_at, withdraw_method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            sqlx::query("UPDATE consents SET state = 'active', confirmed_at = ? WHERE id = ? AND state = 'pending'")
                .bind(at)
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::WithdrawConsent { id, at, method } => {
            sqlx::query(
                "UPDATE consents SET state = 'withdrawn', withdrawn_at = ?, withdraw_method = ? WHERE id = ? AND state <> 'withdrawn'",
            )
            .bind(at)
            .bind(method)
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        }
        Op::PutLinkToken(t) => {
            sqlx::query("INSERT INTO link_tokens (hash, subject_id, consent_id, kind, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?)")
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
            sqlx::query("UPDATE link_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL")
                .bind(at)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        Op::ClearRetention { instance } => {
            sqlx::query("UPDATE purpose_instances SET retain_until = NULL, anchor_date = NULL WHERE id = ?")
                .bind(instance.as_bytes().as_slice())
                .execute(&mut *tx)
                .await?;
        }
        Op::PutCourse(c) => {
            sqlx::query(
                "INSERT INTO courses (id, slug, title_da, title_en, summary_da, summary_en, delivered_by, certification, cancel_free_days, cancel_late_fee_percent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
                "INSERT INTO course_sessions (id, course_id, starts_on, ends_on, location, online, language, price_ore, seats, instructor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, title_da = excluded.title_da, \
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
        Op::Enrol { .. } => {
            let mut bulk = Bulk::default();
            bulk.gather(op);
            bulk.flush(tx, None).await?;
        }
        Op::PutStaff(a) => {
            sqlx::query(
                "INSERT INTO staff_accounts (id, username, role, password_hash, totp_secret, failed_logins, locked_until, setup_hash, setup_expires_at, created_at, disabled_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET username = excluded.username, role = excluded.role, \
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
                 locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END WHERE id = ?",
            )
            .bind(i64::from(*lock_after))
            .bind(locked_until)
            .bind(staff.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
        }
        Op::StaffLoginSucceeded { staff, totp_step } => {
            let updated = sqlx::query(
                "UPDATE staff_accounts SET failed_logins = 0, locked_until = NULL, totp_last_step = ? \
                 WHERE id = ? AND totp_last_step < ?",
            )
            .bind(totp_step)
            .bind(staff.as_bytes().as_slice())
            .bind(totp_step)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(ApplyError::AlreadyUsed);
            }
        }
        Op::PutStaffSession(s) => {
            sqlx::query(
                "INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            )
            .bind(&s.token_hash)
            .bind(s.staff.as_bytes().as_slice())
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        Op::DeleteStaffSession { token_hash } => {
            sqlx::query("DELETE FROM staff_sessions WHERE token_hash = ?").bind(token_hash).execute(&mut *tx).await?;
        }
        Op::DeleteExpiredStaffSessions { expired_before } => {
            sqlx::query("DELETE FROM staff_sessions WHERE expires_at < ?")
                .bind(expired_before)
                .execute(&mut *tx)
                .await?;
        }
        Op::PutApiToken(t) => {
            sqlx::query(
                "INSERT INTO api_tokens (id, token_hash, name, scopes, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
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
            sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
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
            sqlx::query("INSERT INTO policy_activations (version, source_digest, cookie_version, activated_at) VALUES (?, ?, ?, ?)")
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

/// Rows per multi-row INSERT; keeps each statement's bound parameters well under SQLite's limit.
const ROWS_PER_INSERT: usize = 500;

type Statements = sqlx::QueryBuilder<sqlx::Sqlite>;

/// Appends `INSERT INTO {head} VALUES (…), (…);` for `rows`, many rows per statement.
fn push_inserts<T: Copy>(
    sql: &mut Statements,
    head: &str,
    rows: &[T],
    mut bind: impl FnMut(sqlx::query_builder::Separated<'_, sqlx::Sqlite, &'static str>, T),
) {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        sql.push("INSERT INTO ").push(head).push(" ");
        sql.push_values(chunk.iter().copied(), &mut bind);
        sql.push(";\n");
    }
}

/// Claims `count` seats on an activity in one statement, or fails with `Full` when fewer are left
/// than `seats` allows; a batch claims each activity's seats together, not one by one.
async fn claim_seats(tx: &mut SqliteConnection, activity: Uuid, count: u32, seats: u32) -> Result<(), ApplyError> {
    let claimed = sqlx::query(
        "INSERT INTO seat_counts (activity_id, taken) SELECT ?, ? WHERE ? <= ? \
         ON CONFLICT (activity_id) DO UPDATE SET taken = taken + excluded.taken \
         WHERE seat_counts.taken + excluded.taken <= ?",
    )
    .bind(activity.as_bytes().as_slice())
    .bind(i64::from(count))
    .bind(i64::from(count))
    .bind(i64::from(seats))
    .bind(i64::from(seats))
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(ApplyError::Full);
    }
    Ok(())
}

fn push_subjects(sql: &mut Statements, subjects: &[&NewSubject]) {
    push_inserts(sql, "subjects (id, email_index, created_at)", subjects, |mut row, s| {
        row.push_bind(s.id.as_bytes().as_slice()).push_bind(s.email_index.as_deref()).push_bind(s.created_at);
    });
    push_inserts(sql, "subject_keys (subject_id, master_key_id, wrapped)", subjects, |mut row, s| {
        row.push_bind(s.id.as_bytes().as_slice()).push_bind(&s.key.master_key_id).push_bind(&s.key.wrapped);
    });
}

fn push_items(sql: &mut Statements, items: &[&StoredItem]) {
    push_inserts(sql, "items (id, subject_id, category, source, collected_at, value)", items, |mut row, i| {
        row.push_bind(i.id.as_bytes().as_slice())
            .push_bind(i.subject.as_bytes().as_slice())
            .push_bind(&i.category)
            .push_bind(&i.source)
            .push_bind(i.collected_at)
            .push_bind(&i.value);
    });
}

fn push_purposes(sql: &mut Statements, purposes: &[&PurposeInstance]) {
    push_inserts(
        sql,
        "purpose_instances (id, subject_id, purpose, basis, anchor, anchor_date, retain_until, started_at, ended_at, end_reason, notice_version, categories, item_ids)",
        purposes,
        |mut row, p| {
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
        },
    );
}

fn push_enrolments(sql: &mut Statements, enrolments: &[&Enrolment]) {
    push_inserts(
        sql,
        "enrolments (id, activity_id, kind, subject_id, instance_id, certification_instance_id, sponsor_consent_id, created_at, cancelled_at)",
        enrolments,
        |mut row, e| {
            row.push_bind(e.id.as_bytes().as_slice())
                .push_bind(e.activity.as_bytes().as_slice())
                .push_bind(&e.kind)
                .push_bind(e.subject.as_bytes().as_slice())
                .push_bind(e.instance.as_bytes().as_slice())
                .push_bind(e.certification.map(|i| i.as_bytes().to_vec()))
                .push_bind(e.sponsor_consent.map(|i| i.as_bytes().to_vec()))
                .push_bind(e.created_at)
                .push_bind(e.cancelled_at);
        },
    );
}

/// Cookie-consent decisions, the highest-volume rows.
fn push_cookie_consents(sql: &mut Statements, consents: &[&CookieConsent]) {
    push_inserts(
        sql,
        "cookie_consents (receipt, device, granted, method, cookie_version, policy_version, ip_prefix, decided_at)",
        consents,
        |mut row, c| {
            row.push_bind(c.receipt.as_bytes().as_slice())
                .push_bind(&c.device)
                .push_bind(&c.granted)
                .push_bind(&c.method)
                .push_bind(&c.cookie_version)
                .push_bind(&c.policy_version)
                .push_bind(&c.ip_prefix)
                .push_bind(c.decided_at);
        },
    );
}

/// Deletion proofs: a page of the retention sweep writes one per person.
fn push_proofs(sql: &mut Statements, proofs: &[&DeletionProof]) {
    push_inserts(
        sql,
        "deletion_proofs (id, at, record_class, subject_ref, rule, content_hash)",
        proofs,
        |mut row, p| {
            row.push_bind(p.id.as_bytes().as_slice())
                .push_bind(p.at)
                .push_bind(&p.record_class)
                .push_bind(&p.subject_ref)
                .push_bind(&p.rule)
                .push_bind(&p.content_hash);
        },
    );
}

/// The batch's audit entries, and the chain head they end at.
fn push_audit(sql: &mut Statements, entries: &[&AuditEntry], head: &AuditHead) {
    push_inserts(
        sql,
        "audit_log (chain, seq, at, actor, action, subject_ref, details, prev_hash, hash)",
        entries,
        |mut row, e| {
            row.push_bind(&e.chain)
                .push_bind(e.seq as i64)
                .push_bind(e.at)
                .push_bind(&e.actor)
                .push_bind(&e.action)
                .push_bind(&e.subject_ref)
                .push_bind(&e.details)
                .push_bind(&e.prev_hash)
                .push_bind(&e.hash);
        },
    );
    if !entries.is_empty() {
        sql.push("INSERT INTO audit_heads (chain, seq, hash, mac) VALUES (")
            .push_bind(&head.chain)
            .push(", ")
            .push_bind(head.seq as i64)
            .push(", ")
            .push_bind(&head.hash)
            .push(", ")
            .push_bind(&head.mac)
            .push(
                ") ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac;\n",
            );
    }
}

/// Rows of one batch that are only inserted, gathered to be written together. Inserts depend on
/// nothing else in the batch; any other operation first writes what is gathered.
///
/// Everything gathered goes to SQLite as one multi-statement query: each query is a hand-off to
/// the connection's thread, and on a busy machine those hand-offs, not SQLite, cost the most.
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

    /// Moves the gathered rows, and the batch's audit entries, into `sql` as multi-row inserts.
    fn push_rows(&mut self, sql: &mut Statements, audit: Option<(&[&'a AuditEntry], &'a AuditHead)>) {
        push_subjects(sql, &std::mem::take(&mut self.subjects));
        push_items(sql, &std::mem::take(&mut self.items));
        push_purposes(sql, &std::mem::take(&mut self.purposes));
        push_enrolments(sql, &std::mem::take(&mut self.enrolments));
        push_cookie_consents(sql, &std::mem::take(&mut self.consents));
        push_proofs(sql, &std::mem::take(&mut self.proofs));
        if let Some((entries, head)) = audit {
            push_audit(sql, entries, head);
        }
    }

    /// Writes what is gathered, with `audit` (the batch's entries and head) when given.
    async fn flush(
        &mut self,
        tx: &mut SqliteConnection,
        audit: Option<(&[&'a AuditEntry], &'a AuditHead)>,
    ) -> Result<(), ApplyError> {
        for (activity, count, seats) in std::mem::take(&mut self.seat_claims) {
            claim_seats(tx, activity, count, seats).await?;
        }
        let mut sql = Statements::new("");
        self.push_rows(&mut sql, audit);
        if !sql.sql().as_str().is_empty() {
            // Batches differ in size, so caching the prepared text would only churn the cache.
            sql.build().persistent(false).execute(&mut *tx).await?;
        }
        Ok(())
    }
}

fn id_from<T>(row: &SqliteRow, column: &str, make: fn(&[u8]) -> Option<T>) -> Result<T, StoreError> {
    let bytes: Vec<u8> = row.try_get(column).map_err(|_| corrupt(column))?;
    make(&bytes).ok_or_else(|| corrupt(column))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(column).map_err(|_| corrupt(column))
}

fn mail_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<OutboxMail, StoreError> {
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

const CONSENT_SELECT_BY_ID: &str = "SELECT id, subject_id, purpose, instance_id, state, lang, policy_version, text, text_hash, method, requested_at, confirmed_at, withdrawn_at, withdraw_method FROM consents WHERE id = ?";
const CONSENT_SELECT_ACTIVE: &str = "SELECT id, subject_id, purpose, instance_id, state, lang, policy_version, text, text_hash, method, requested_at, confirmed_at, withdrawn_at, withdraw_method FROM consents WHERE purpose = ? AND state = 'active' ORDER BY id";

fn consent_from_row(r: &SqliteRow) -> Result<ConsentRecord, StoreError> {
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

const ENROLMENT_SELECT_BY_ACTIVITY: &str = "SELECT id, activity_id, kind, subject_id, instance_id, certification_instance_id, sponsor_consent_id, created_at, cancelled_at FROM enrolments WHERE activity_id = ? ORDER BY id";
const ENROLMENT_SELECT_BY_SUBJECT: &str = "SELECT id, activity_id, kind, subject_id, instance_id, certification_instance_id, sponsor_consent_id, created_at, cancelled_at FROM enrolments WHERE subject_id = ? ORDER BY id";

fn enrolment_from_row(r: &SqliteRow) -> Result<Enrolment, StoreError> {
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

fn cookie_consent_from_row(r: &SqliteRow) -> Result<CookieConsent, StoreError> {
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

fn date_col(row: &SqliteRow, column: &str) -> Result<Option<time::Date>, StoreError> {
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

fn staff_from_row(r: &SqliteRow) -> Result<StaffAccount, StoreError> {
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

fn api_token_from_row(r: &SqliteRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: id_from(r, "id", ApiTokenId::from_slice)?,
        token_hash: get(r, "token_hash")?,
        name: get(r, "name")?,
        scopes: get(r, "scopes")?,
        created_at: get(r, "created_at")?,
        revoked_at: get(r, "revoked_at")?,
    })
}

/// Applies one batch in one transaction on the writer's connection.
async fn apply_batch(
    conn: &mut SqliteConnection,
    batch: &[PreparedChange],
    head: &AuditHead,
) -> Result<(), StoreError> {
    let entries: Vec<&AuditEntry> = batch.iter().flat_map(|p| p.entries.iter()).collect();
    let mut bulk = Bulk::default();
    // A batch of plain inserts only (cookie-consent decisions, the busiest path) is one script
    // from BEGIN to COMMIT: one hand-off to SQLite's thread instead of three.
    let ops = || batch.iter().flat_map(|p| p.change.ops.iter());
    if ops().all(|op| !matches!(op, Op::Enrol { .. }) && bulk.gather(op)) {
        let mut sql = Statements::new("BEGIN IMMEDIATE;\n");
        bulk.push_rows(&mut sql, Some((&entries, head)));
        sql.push("COMMIT;");
        if let Err(e) = sql.build().persistent(false).execute(&mut *conn).await {
            // Whatever failed, nothing of the batch may stay half-applied.
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            return Err(error(e));
        }
        return Ok(());
    }
    // Not plain inserts only: what the check gathered is dropped, and the batch is applied in order.
    let mut bulk = Bulk::default();
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
    for prepared in batch {
        for op in &prepared.change.ops {
            if !bulk.gather(op) {
                bulk.flush(&mut tx, None).await.map_err(apply_error)?;
                apply_op(&mut tx, op).await.map_err(apply_error)?;
            }
        }
    }
    bulk.flush(&mut tx, Some((&entries, head))).await.map_err(apply_error)?;
    tx.commit().await.map_err(error)?;
    Ok(())
}

impl Backend for SqliteBackend {
    /// Every read is a hand-off to a connection's own thread: concurrent sign-ups' look-ups are
    /// cheaper as one read.
    const COALESCE_EMAIL_LOOKUPS: bool = true;

    async fn apply_batch(&self, batch: &[PreparedChange], head: &AuditHead) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(error)?;
        if self.log.long.load(Ordering::Relaxed) {
            restart_log(&mut conn, &self.log).await;
        }
        let applied = apply_batch(&mut conn, batch, head).await;
        // Whatever the outcome, the log may have grown.
        self.log.grown.notify_one();
        applied
    }

    async fn scrub(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(error)?;
        if checkpoint(&mut conn, "TRUNCATE").await.map_err(error)?.blocked {
            return Err(StoreError::Unavailable("a reader held the write-ahead log; it was not truncated".into()));
        }
        Ok(())
    }

    async fn bootstrap_vault_keys(&self, keys: &[VaultKeyRecord]) -> Result<Vec<VaultKeyRecord>, StoreError> {
        let mut conn = self.writer.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let existing: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM vault_keys").fetch_one(&mut *tx).await.map_err(error)?;
        if existing == 0 {
            for k in keys {
                sqlx::query("INSERT INTO vault_keys (name, master_key_id, wrapped) VALUES (?, ?, ?)")
                    .bind(&k.name)
                    .bind(&k.key.master_key_id)
                    .bind(&k.key.wrapped)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
        }
        tx.commit().await.map_err(error)?;
        drop(conn);
        self.vault_keys().await
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(error).map(|_| ())
    }

    async fn vault_keys(&self) -> Result<Vec<VaultKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, master_key_id, wrapped FROM vault_keys ORDER BY name")
            .fetch_all(&self.writer)
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

    async fn subjects_by_email_indexes(&self, indexes: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, SubjectId)>, StoreError> {
        // One prepared statement serves any number of indexes.
        let rows = sqlx::query(
            "SELECT email_index, id FROM subjects WHERE email_index IN (SELECT unhex(value) FROM json_each(?))",
        )
        .bind(json_hex_array(indexes.iter().map(Vec::as_slice)))
        .fetch_all(&self.reader)
        .await
        .map_err(error)?;
        rows.iter().map(|r| Ok((get(r, "email_index")?, id_from(r, "id", SubjectId::from_slice)?))).collect()
    }

    async fn subject_key(&self, subject: SubjectId) -> Result<Option<WrappedKey>, StoreError> {
        let row = sqlx::query("SELECT master_key_id, wrapped FROM subject_keys WHERE subject_id = ?")
            .bind(subject.as_bytes().as_slice())
            .fetch_optional(&self.reader)
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
        let rows = sqlx::query("SELECT subject_id, master_key_id, wrapped FROM subject_keys WHERE subject_id > ? ORDER BY subject_id LIMIT ?")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
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
        subjects::items(&self.reader, Whose::One(subject)).await
    }

    async fn purposes_of(&self, subject: SubjectId) -> Result<Vec<PurposeInstance>, StoreError> {
        subjects::purposes(&self.reader, Whose::One(subject)).await
    }

    async fn rows_of_subjects(&self, subjects: &[SubjectId]) -> Result<SubjectRows, StoreError> {
        subjects::rows_of_subjects(&self.reader, subjects).await
    }

    async fn access_link(&self, hash: &[u8]) -> Result<Option<AccessLink>, StoreError> {
        let row = sqlx::query("SELECT hash, subject_id, kind, expires_at, used_at FROM access_links WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.reader)
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

    async fn email_index_of(&self, subject: SubjectId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT email_index FROM subjects WHERE id = ?")
            .bind(subject.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        Ok(row.map(|r| get::<Option<Vec<u8>>>(&r, "email_index")).transpose()?.flatten())
    }

    async fn remembered_request(&self, key_hash: &[u8]) -> Result<Option<RememberedRequest>, StoreError> {
        let row =
            sqlx::query("SELECT key_hash, request_hash, outcome, expires_at FROM repeated_requests WHERE key_hash = ?")
                .bind(key_hash)
                .fetch_optional(&self.reader)
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
            "SELECT job, holder, until FROM job_leases WHERE substr(job, 1, length(?1)) = ?1 AND until >= ?2 ORDER BY job",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&self.reader)
        .await
        .map_err(error)?;
        rows.iter()
            .map(|r| Ok(Lease { job: get(r, "job")?, holder: get(r, "holder")?, until: get(r, "until")? }))
            .collect()
    }

    async fn suppression(&self, email_index: &[u8]) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT purpose FROM suppressions WHERE email_index = ?")
            .bind(email_index)
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        row.map(|r| get(&r, "purpose")).transpose()
    }

    async fn count_subjects_with_expired_purposes(&self, today: time::Date) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(pactum_store::sql::subjects::COUNT_WITH_EXPIRED_PURPOSES)
            .bind(date_to_text(today))
            .fetch_one(&self.reader)
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
        let rows = sqlx::query("SELECT DISTINCT subject_id FROM purpose_instances WHERE retain_until < ? AND subject_id > ? ORDER BY subject_id LIMIT ?")
            .bind(date_to_text(today))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(error)?;
        rows.iter().map(|r| id_from(r, "subject_id", SubjectId::from_slice)).collect()
    }

    async fn deletion_proofs_of(&self, subject_ref: &str) -> Result<Vec<DeletionProof>, StoreError> {
        let rows = sqlx::query("SELECT id, at, record_class, subject_ref, rule, content_hash FROM deletion_proofs WHERE subject_ref = ? ORDER BY id")
            .bind(subject_ref)
            .fetch_all(&self.reader)
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
            .fetch_all(&self.writer)
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
             WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(chain)
        .bind(after as i64)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
             WHERE device = ? ORDER BY decided_at, receipt",
        )
        .bind(device)
        .fetch_all(&self.reader)
        .await
        .map_err(error)?;
        rows.iter().map(cookie_consent_from_row).collect()
    }

    async fn cookie_consent(&self, receipt: ReceiptId) -> Result<Option<CookieConsent>, StoreError> {
        let row = sqlx::query(
            "SELECT receipt, device, granted, method, cookie_version, policy_version, ip_prefix, decided_at FROM cookie_consents WHERE receipt = ?",
        )
        .bind(receipt.as_bytes().as_slice())
        .fetch_optional(&self.reader)
        .await
        .map_err(error)?;
        row.as_ref().map(cookie_consent_from_row).transpose()
    }

    async fn claim_mail(&self, now: Micros, lease_until: Micros, limit: u32) -> Result<Vec<OutboxMail>, StoreError> {
        let mut conn = self.writer.acquire().await.map_err(error)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(error)?;
        let rows = sqlx::query(
            "UPDATE outbox SET lease_until = ? WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? \
             AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT ?) \
             RETURNING id, subject_id, kind, sealed, status, attempts, created_at, next_attempt_at, sent_at",
        )
        .bind(lease_until)
        .bind(now)
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
            "SELECT id, subject_id, kind, sealed, status, attempts, created_at, next_attempt_at, sent_at FROM outbox WHERE id = ?",
        )
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&self.reader)
        .await
        .map_err(error)?;
        row.as_ref().map(mail_from_row).transpose()
    }

    async fn consent(&self, id: ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        let row = sqlx::query(CONSENT_SELECT_BY_ID)
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        row.as_ref().map(consent_from_row).transpose()
    }

    async fn consents_of(&self, subject: SubjectId) -> Result<Vec<ConsentRecord>, StoreError> {
        subjects::consents(&self.reader, Whose::One(subject)).await
    }

    async fn active_consents(&self, purpose: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = sqlx::query(CONSENT_SELECT_ACTIVE).bind(purpose).fetch_all(&self.reader).await.map_err(error)?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn link_token(&self, hash: &[u8]) -> Result<Option<LinkToken>, StoreError> {
        let row = sqlx::query(
            "SELECT hash, subject_id, consent_id, kind, expires_at, used_at FROM link_tokens WHERE hash = ?",
        )
        .bind(hash)
        .fetch_optional(&self.reader)
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
            .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        let taken: Option<i64> = sqlx::query_scalar("SELECT taken FROM seat_counts WHERE activity_id = ?")
            .bind(activity.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        Ok(u32::try_from(taken.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    async fn enrolments_of(&self, activity: Uuid) -> Result<Vec<Enrolment>, StoreError> {
        let rows = sqlx::query(ENROLMENT_SELECT_BY_ACTIVITY)
            .bind(activity.as_bytes().as_slice())
            .fetch_all(&self.reader)
            .await
            .map_err(error)?;
        rows.iter().map(enrolment_from_row).collect()
    }

    async fn enrolments_of_subject(&self, subject: SubjectId) -> Result<Vec<Enrolment>, StoreError> {
        let rows = sqlx::query(ENROLMENT_SELECT_BY_SUBJECT)
            .bind(subject.as_bytes().as_slice())
            .fetch_all(&self.reader)
            .await
            .map_err(error)?;
        rows.iter().map(enrolment_from_row).collect()
    }

    async fn staff_accounts(&self) -> Result<Vec<StaffAccount>, StoreError> {
        let rows = sqlx::query(staff_select!("ORDER BY username")).fetch_all(&self.reader).await.map_err(error)?;
        rows.iter().map(staff_from_row).collect()
    }

    async fn staff_by_username(&self, username: &str) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(staff_select!("WHERE username = ?"))
            .bind(username)
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        row.as_ref().map(staff_from_row).transpose()
    }

    async fn staff_by_setup_hash(&self, hash: &[u8]) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(staff_select!("WHERE setup_hash = ?"))
            .bind(hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        row.as_ref().map(staff_from_row).transpose()
    }

    async fn staff_account(&self, id: StaffId) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(staff_select!("WHERE id = ?"))
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        row.as_ref().map(staff_from_row).transpose()
    }

    async fn staff_session(&self, token_hash: &[u8]) -> Result<Option<StaffSession>, StoreError> {
        let row =
            sqlx::query("SELECT token_hash, staff_id, created_at, expires_at FROM staff_sessions WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.reader)
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
            sqlx::query(api_token_select!("ORDER BY created_at, id")).fetch_all(&self.reader).await.map_err(error)?;
        rows.iter().map(api_token_from_row).collect()
    }

    async fn api_token_by_hash(&self, hash: &[u8]) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(api_token_select!("WHERE token_hash = ?"))
            .bind(hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        row.as_ref().map(api_token_from_row).transpose()
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        orders::order(&self.reader, id).await
    }

    async fn orders_of_buyer(&self, buyer: SubjectId) -> Result<Vec<Order>, StoreError> {
        orders::orders_of_buyer(&self.reader, buyer).await
    }

    async fn invoice(&self, id: InvoiceId) -> Result<Option<Invoice>, StoreError> {
        orders::invoice(&self.reader, id).await
    }

    async fn invoices_of_order(&self, order: OrderId) -> Result<Vec<Invoice>, StoreError> {
        orders::invoices_of(&self.reader, orders::InvoicesOf::Order(order)).await
    }

    async fn invoices_after(&self, after: u64, limit: u32) -> Result<Vec<Invoice>, StoreError> {
        orders::invoices_of(&self.reader, orders::InvoicesOf::After { number: after, limit }).await
    }

    async fn invoices_of_buyer(&self, buyer: SubjectId) -> Result<Vec<Invoice>, StoreError> {
        orders::invoices_of(&self.reader, orders::InvoicesOf::Buyer(buyer)).await
    }

    async fn disclosures_of(&self, subject: SubjectId) -> Result<Vec<Disclosure>, StoreError> {
        ledger::disclosures_of(&self.reader, Whose::One(subject)).await
    }

    async fn certification_messages_of_session(
        &self,
        session: SessionId,
    ) -> Result<Vec<CertificationMessage>, StoreError> {
        ledger::certification_messages(&self.reader, ledger::MessagesOf::Session(session)).await
    }

    async fn certification_messages_of_subject(
        &self,
        subject: SubjectId,
    ) -> Result<Vec<CertificationMessage>, StoreError> {
        ledger::certification_messages(&self.reader, ledger::MessagesOf::Subjects(Whose::One(subject))).await
    }

    async fn certification_message(
        &self,
        id: CertificationMessageId,
    ) -> Result<Option<CertificationMessage>, StoreError> {
        Ok(ledger::certification_messages(&self.reader, ledger::MessagesOf::One(id)).await?.pop())
    }

    async fn claim_notifications(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: u32,
    ) -> Result<Vec<RecipientNotification>, StoreError> {
        ledger::claim_notifications(&self.writer, now, lease_until, limit).await
    }

    async fn settled_notifications(
        &self,
        before: Micros,
        limit: u32,
    ) -> Result<Vec<RecipientNotification>, StoreError> {
        ledger::settled_notifications(&self.reader, before, limit).await
    }

    async fn notifications(&self, limit: u32) -> Result<Vec<RecipientNotification>, StoreError> {
        ledger::notifications(&self.reader, limit).await
    }

    async fn disclosure_counts(&self) -> Result<Vec<DisclosureCount>, StoreError> {
        ledger::disclosure_counts(&self.reader).await
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        incidents::incidents(&self.reader).await
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        incidents::incident(&self.reader, id).await
    }

    async fn rights_requests(&self, open: bool, limit: u32) -> Result<Vec<RightsRequest>, StoreError> {
        rights::rights_requests(&self.reader, open, limit).await
    }

    async fn rights_request(&self, id: RightsRequestId) -> Result<Option<RightsRequest>, StoreError> {
        rights::rights_request(&self.reader, id).await
    }

    async fn rights_requests_of(&self, subject: SubjectId) -> Result<Vec<RightsRequest>, StoreError> {
        rights::rights_requests_of(&self.reader, subject).await
    }

    async fn disclosures_to(&self, recipient: &str, from: Micros, to: Micros) -> Result<Vec<Disclosure>, StoreError> {
        ledger::disclosures_to(&self.reader, recipient, from, to).await
    }

    async fn participations_of(&self, subject: SubjectId) -> Result<Vec<Participation>, StoreError> {
        ledger::participations_of(&self.reader, Whose::One(subject)).await
    }

    async fn waiting_list(&self, session: SessionId) -> Result<Vec<WaitingEntry>, StoreError> {
        orders::waiting_list(&self.reader, session).await
    }

    async fn payment_event_applied(&self, event_id: &str) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar("SELECT event_id FROM payment_events WHERE event_id = ?")
            .bind(event_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(error)?;
        Ok(found.is_some())
    }

    async fn latest_policy_activation(&self) -> Result<Option<PolicyActivation>, StoreError> {
        let row = sqlx::query("SELECT version, source_digest, cookie_version, activated_at FROM policy_activations ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.writer)
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
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(error)?;
        rows.iter().map(|r| Ok((get(r, "table_name")?, get(r, "column_name")?))).collect()
    }
}
