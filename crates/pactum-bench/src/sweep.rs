//! The retention sweep's throughput: personal values deleted per second, each person's deletion
//! with its proof and audit entry, for a store where every value has expired; next to a plain SQL
//! `DELETE` of the same rows in a second store seeded the same way, in the same run.

use std::sync::Arc;
use std::time::Instant;

use pactum_core::personal::Collection;
use pactum_core::{Clock, Pactum, SystemClock};
use pactum_store::Backend;
use tokio::sync::Semaphore;

/// Values per person: name, e-mail address, phone number, job title.
pub const VALUES_PER_PERSON: usize = 4;

/// Fills `pactum` with `people` course participants whose course ended in 2020, so that all their
/// data is past its retention.
pub async fn seed<B: Backend>(pactum: &Pactum<B, SystemClock>, people: usize, run: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..people {
        let permit = gate.clone().acquire_owned().await?;
        let p = pactum.clone();
        let email = format!("deltager{i}.{run}@eksempel.dk");
        tasks.spawn(async move {
            let _permit = permit;
            p.collect(Collection {
                purpose: "course_enrolment".into(),
                values: vec![
                    ("name".into(), format!("Deltager {i}")),
                    ("email".into(), email),
                    ("phone".into(), format!("+45 {:08}", 20_000_000 + i)),
                    ("title".into(), "Projektleder".into()),
                ],
                source: "bench".into(),
                anchor_date: Some(time::macros::date!(2020 - 01 - 01)),
                actor: "subject".into(),
            })
            .await
        });
        while tasks.len() > 1024 {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed().as_secs_f64())
}

pub struct SweepFigures {
    pub backend: &'static str,
    pub people: usize,
    pub items: usize,
    pub seed_seconds: f64,
    pub sweep_seconds: f64,
    pub proofs: usize,
    pub delete_seconds: f64,
    pub deleted_rows: u64,
}

/// Sweeps `pactum` as of today and times it.
pub async fn sweep<B: Backend>(pactum: &Pactum<B, SystemClock>) -> anyhow::Result<(usize, usize, f64)> {
    let started = Instant::now();
    let report = pactum.run_retention(pactum.clock.today(), false).await?;
    Ok((report.items_deleted, report.subjects_erased, started.elapsed().as_secs_f64()))
}

pub fn print(figures: &[SweepFigures]) {
    println!(
        "| Backend | People | Values | Seed s | Sweep s | Values/s (sweep, with proofs) | Plain DELETE s | Rows/s (plain DELETE) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for f in figures {
        println!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.0} | {:.3} | {:.0} |",
            f.backend,
            f.people,
            f.items,
            f.seed_seconds,
            f.sweep_seconds,
            f.items as f64 / f.sweep_seconds,
            f.delete_seconds,
            f.deleted_rows as f64 / f.delete_seconds
        );
        debug_assert_eq!(f.proofs, f.people);
    }
}
