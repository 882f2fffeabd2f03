//! Latency of the two rights a person uses most, for one person in a large store: the access
//! report (everything held, opened, with purposes, recipients, requests and redactions) and
//! erasure at the person's request (key shredded, every row deleted, proof and audit entry, durable).
//! Next to them, in the same run on the same store, the floors they stand on: one indexed read of
//! a person's items, and one durable commit of an audit entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pactum_core::{Clock, Pactum, SystemClock};
use pactum_policy::Lang;
use pactum_store::{AuditEvent, Backend, Change, NewSubject, Op, SubjectId};
use tokio::sync::Semaphore;

/// Values per person: six from a course enrolment, four course evaluations.
pub const ITEMS_PER_PERSON: usize = 10;

/// People per seeding transaction.
const BATCH: usize = 500;

/// Seeds `people` course participants, each with [`ITEMS_PER_PERSON`] sealed values held by two
/// live purposes, straight through the store in large transactions (the seeding is not what is
/// measured). Returns their ids and the seconds it took.
pub async fn seed<B: Backend>(pactum: &Pactum<B, SystemClock>, people: usize) -> anyhow::Result<(Vec<SubjectId>, f64)> {
    let started = Instant::now();
    let enrolment = pactum.purpose("course_enrolment")?.clone();
    let feedback = pactum.purpose("service_improvement")?.clone();
    let gate = Arc::new(Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ids = Vec::with_capacity(people);
    for first in (0..people).step_by(BATCH) {
        let permit = gate.clone().acquire_owned().await?;
        let mut ops = Vec::with_capacity(BATCH * (ITEMS_PER_PERSON + 3));
        for i in first..(first + BATCH).min(people) {
            let subject = SubjectId::new();
            ids.push(subject);
            let email = format!("person{i}@eksempel.dk");
            let (key, wrapped) = pactum.keys.new_subject_key(subject)?;
            ops.push(Op::CreateSubject(NewSubject {
                id: subject,
                email_index: Some(pactum.keys.blind_index.email(&email)),
                key: wrapped,
                created_at: pactum.clock.now_micros(),
            }));
            let values = [
                ("name", format!("Person {i}")),
                ("email", email),
                ("phone", format!("+45{:08}", 20_000_000 + i)),
                ("title", "Projektleder".into()),
                ("company", format!("Firma {} ApS", i % 1000)),
                ("address", format!("Vestergade {}, 8000 Aarhus C", i % 200)),
                ("course_feedback", "Godt kursus.".into()),
                ("course_feedback", "Gode øvelser.".into()),
                ("course_feedback", "For kort frokost.".into()),
                ("course_feedback", "Anbefales.".into()),
            ];
            for (category, value) in &values {
                ops.push(pactum.item_op(subject, &key, category, value, "form:course_enrolment")?);
            }
            let course_end = Some(time::macros::date!(2099 - 01 - 02));
            ops.push(Op::StartPurpose(pactum.start_purpose(subject, &enrolment, course_end)));
            ops.push(Op::StartPurpose(pactum.start_purpose(subject, &feedback, course_end)));
        }
        let p = pactum.clone();
        tasks.spawn(async move {
            let _permit = permit;
            p.store.commit(Change { at: p.clock.now_micros(), ops, audit: Vec::new() }).await
        });
        while tasks.len() > 4 {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok((ids, started.elapsed().as_secs_f64()))
}

/// p50 and p99 of `samples`, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99))
}

pub struct RightsFigures {
    pub backend: &'static str,
    pub people: usize,
    pub items: usize,
    pub seed_seconds: f64,
    pub samples: usize,
    /// (what, p50 ms, p99 ms)
    pub rows: Vec<(&'static str, f64, f64)>,
}

/// Times `samples` access reports and `samples` erasures of other people, one at a time, with
/// the two floors beside them. `read_items` is the bare indexed query of one person's items.
pub async fn measure<B: Backend>(
    pactum: &Pactum<B, SystemClock>,
    ids: &[SubjectId],
    samples: usize,
    read_items: impl AsyncFn(SubjectId) -> anyhow::Result<usize>,
) -> anyhow::Result<Vec<(&'static str, f64, f64)>> {
    // A fixed stride through the ids spreads the samples over the whole store.
    let stride = (ids.len() / (2 * samples + 1)).max(1);
    let pick = |n: usize| ids[(n * stride + stride / 2) % ids.len()];
    let mut floor_read = Vec::with_capacity(samples);
    let mut access = Vec::with_capacity(samples);
    for n in 0..samples {
        let subject = pick(2 * n);
        let started = Instant::now();
        let found = read_items(subject).await?;
        floor_read.push(started.elapsed());
        anyhow::ensure!(found == ITEMS_PER_PERSON, "the bare read found {found} items");
        let started = Instant::now();
        let report = pactum.subject_report(subject, Lang::Da).await?;
        access.push(started.elapsed());
        anyhow::ensure!(report.items.len() == ITEMS_PER_PERSON, "the report shows {} items", report.items.len());
    }
    let mut floor_commit = Vec::with_capacity(samples);
    let mut erasure = Vec::with_capacity(samples);
    for n in 0..samples {
        let event = AuditEvent::new("bench", "bench.commit", None, serde_json::json!({}));
        let started = Instant::now();
        pactum.store.commit(Change { at: pactum.clock.now_micros(), ops: Vec::new(), audit: vec![event] }).await?;
        floor_commit.push(started.elapsed());
        let subject = pick(2 * n + 1);
        let started = Instant::now();
        let erased =
            pactum.erase_on_request(subject, "erasure requested by the person (bench)", "subject", None).await?;
        erasure.push(started.elapsed());
        anyhow::ensure!(erased.items_deleted == ITEMS_PER_PERSON && erased.kept.is_empty(), "erased {erased:?}");
    }
    let (r50, r99) = percentiles(floor_read);
    let (a50, a99) = percentiles(access);
    let (c50, c99) = percentiles(floor_commit);
    let (e50, e99) = percentiles(erasure);
    Ok(vec![
        ("bare indexed read of one person's items (floor)", r50, r99),
        ("access report (everything held, opened)", a50, a99),
        ("one durable commit of an audit entry (floor)", c50, c99),
        ("erasure at the person's request (shred, delete, proof, audit)", e50, e99),
    ])
}

pub fn print(figures: &[RightsFigures]) {
    println!("| Backend | People | Items | Seed s | Samples | Operation | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---|---:|---:|");
    for f in figures {
        for (what, p50, p99) in &f.rows {
            println!(
                "| {} | {} | {} | {:.0} | {} | {what} | {p50:.3} | {p99:.3} |",
                f.backend, f.people, f.items, f.seed_seconds, f.samples
            );
        }
    }
}
