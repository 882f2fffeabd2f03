//! The disclosure ledger (P08–P12) and the certification records (P15–P17): the partner's messages
//! to a session's exam proctor and the participation records. Each row hangs on the purpose
//! instance it was made under and goes with it.

use pactum_store::*;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};

use crate::{ApplyError, corrupt, date_col, error, get, id_from};

pub(crate) async fn record_disclosures(tx: &mut PgConnection, entries: &[Disclosure]) -> Result<(), ApplyError> {
    for d in entries {
        sqlx::query(
            "INSERT INTO disclosures (id, batch_id, recipient, purpose, basis, categories, subject_id, instance_id, \
             activity_id, statute, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .bind(&d.statute)
        .bind(&d.actor)
        .bind(d.at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub(crate) async fn put_certification_message(
    tx: &mut PgConnection,
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

pub(crate) async fn put_participation(tx: &mut PgConnection, p: &Participation) -> Result<(), ApplyError> {
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

fn disclosure_from_row(r: &PgRow) -> Result<Disclosure, StoreError> {
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
        statute: get(r, "statute")?,
        actor: get(r, "actor")?,
        at: get(r, "at")?,
    })
}

pub(crate) async fn disclosures_of(pool: &PgPool, subject: SubjectId) -> Result<Vec<Disclosure>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, batch_id, recipient, purpose, basis, categories, subject_id, instance_id, activity_id, statute, \
         actor, at FROM disclosures WHERE subject_id = $1 ORDER BY at, id",
    )
    .bind(subject.as_bytes().as_slice())
    .fetch_all(pool)
    .await
    .map_err(error)?;
    rows.iter().map(disclosure_from_row).collect()
}

/// Which certification messages to read.
pub(crate) enum MessagesOf {
    Session(SessionId),
    Subject(SubjectId),
    One(CertificationMessageId),
}

macro_rules! message_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, session_id, enrolment_id, subject_id, instance_id, kind, sealed, received_at \
             FROM certification_messages ",
            $tail
        )
    };
}

pub(crate) async fn certification_messages(
    pool: &PgPool,
    of: MessagesOf,
) -> Result<Vec<CertificationMessage>, StoreError> {
    let query =
        match &of {
            MessagesOf::Session(s) => sqlx::query(message_select!("WHERE session_id = $1 ORDER BY received_at, id"))
                .bind(s.as_bytes().to_vec()),
            MessagesOf::Subject(s) => sqlx::query(message_select!("WHERE subject_id = $1 ORDER BY received_at, id"))
                .bind(s.as_bytes().to_vec()),
            MessagesOf::One(id) => sqlx::query(message_select!("WHERE id = $1")).bind(id.as_bytes().to_vec()),
        };
    let rows = query.fetch_all(pool).await.map_err(error)?;
    rows.iter()
        .map(|r: &PgRow| {
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

pub(crate) async fn participations_of(pool: &PgPool, subject: SubjectId) -> Result<Vec<Participation>, StoreError> {
    let rows = sqlx::query(
        "SELECT enrolment_id, subject_id, instance_id, course_id, ends_on, passed, recorded_at FROM participations \
         WHERE subject_id = $1 ORDER BY ends_on, enrolment_id",
    )
    .bind(subject.as_bytes().as_slice())
    .fetch_all(pool)
    .await
    .map_err(error)?;
    rows.iter()
        .map(|r: &PgRow| {
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
