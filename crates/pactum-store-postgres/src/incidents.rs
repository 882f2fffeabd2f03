//! The incident register (L9): breaches as staff record them.

use pactum_store::*;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};

use crate::{ApplyError, error, get, id_from};

pub(crate) async fn put_incident(tx: &mut PgConnection, i: &Incident) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO incidents (id, title, description, aware_at, occurred_from, occurred_to, recipient, actor, \
         categories, consequences, measures, risk, authority_notified_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description, \
         aware_at = excluded.aware_at, occurred_from = excluded.occurred_from, occurred_to = excluded.occurred_to, \
         recipient = excluded.recipient, actor = excluded.actor, categories = excluded.categories, \
         consequences = excluded.consequences, measures = excluded.measures, risk = excluded.risk, \
         authority_notified_at = excluded.authority_notified_at",
    )
    .bind(i.id.as_bytes().as_slice())
    .bind(&i.title)
    .bind(&i.description)
    .bind(i.aware_at)
    .bind(i.occurred_from)
    .bind(i.occurred_to)
    .bind(&i.recipient)
    .bind(&i.actor)
    .bind(i.categories.join(","))
    .bind(&i.consequences)
    .bind(&i.measures)
    .bind(&i.risk)
    .bind(i.authority_notified_at)
    .bind(&i.created_by)
    .bind(i.created_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

macro_rules! incident_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, title, description, aware_at, occurred_from, occurred_to, recipient, actor, categories, \
             consequences, measures, risk, authority_notified_at, created_by, created_at FROM incidents ",
            $tail
        )
    };
}

fn incident_from_row(r: &PgRow) -> Result<Incident, StoreError> {
    let categories: String = get(r, "categories")?;
    Ok(Incident {
        id: id_from(r, "id", IncidentId::from_slice)?,
        title: get(r, "title")?,
        description: get(r, "description")?,
        aware_at: get(r, "aware_at")?,
        occurred_from: get(r, "occurred_from")?,
        occurred_to: get(r, "occurred_to")?,
        recipient: get(r, "recipient")?,
        actor: get(r, "actor")?,
        categories: categories.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
        consequences: get(r, "consequences")?,
        measures: get(r, "measures")?,
        risk: get(r, "risk")?,
        authority_notified_at: get(r, "authority_notified_at")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) async fn incidents(pool: &PgPool) -> Result<Vec<Incident>, StoreError> {
    let rows = sqlx::query(incident_select!("ORDER BY aware_at DESC, id DESC")).fetch_all(pool).await.map_err(error)?;
    rows.iter().map(incident_from_row).collect()
}

pub(crate) async fn incident(pool: &PgPool, id: IncidentId) -> Result<Option<Incident>, StoreError> {
    let row = sqlx::query(incident_select!("WHERE id = $1"))
        .bind(id.as_bytes().as_slice())
        .fetch_optional(pool)
        .await
        .map_err(error)?;
    row.as_ref().map(incident_from_row).transpose()
}

/// Deletes an incident from the register.
pub(crate) async fn delete_incident(tx: &mut PgConnection, id: IncidentId) -> Result<(), ApplyError> {
    sqlx::query("DELETE FROM incidents WHERE id = $1").bind(id.as_bytes().as_slice()).execute(&mut *tx).await?;
    Ok(())
}
