//! The master key: created once, never replaced, refused when missing or wrong, rotatable (DESIGN invariant 3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use pactum_core::keyfile::{KeyError, KeySource, load};
use pactum_core::keys::rotate_master_key;
use pactum_core::personal::Collection;
use pactum_core::{CoreError, ManualClock, Pactum};
use pactum_policy::{BUNDLED_POLICY, Lang, parse_policy};
use pactum_store::Backend;
use pactum_store_sqlite::SqliteBackend;
use pactum_vault::MasterKey;
use time::macros::datetime;

async fn start(dir: &Path, source: KeySource) -> Result<Pactum<SqliteBackend, ManualClock>, CoreError> {
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.join("pactum.db").display())).await.expect("sqlite");
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).expect("policy");
    Pactum::start(
        backend,
        load(source)?,
        policy,
        ManualClock::at(datetime!(2026-11-25 10:00 UTC)),
        pactum_core::Settings::default(),
    )
    .await
}

fn default_file(dir: &Path) -> KeySource {
    KeySource::File { path: dir.join("master.key"), may_create: true }
}

async fn enrol(p: &Pactum<SqliteBackend, ManualClock>) -> pactum_store::SubjectId {
    p.collect(Collection {
        purpose: "course_enrolment".into(),
        values: vec![("name".into(), "Kim Kjær".into()), ("email".into(), "kim@eksempel.dk".into())],
        source: "form:course_enrolment".into(),
        anchor_date: None,
        actor: "subject".into(),
    })
    .await
    .expect("enrol")
    .subject
}

#[tokio::test]
async fn first_run_creates_a_private_key_file_and_later_runs_reuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), default_file(dir.path())).await.unwrap();
    let subject = enrol(&p).await;
    drop(p);
    let key_file = dir.path().join("master.key");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(text.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = start(dir.path(), default_file(dir.path())).await.unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), text, "the key file is never rewritten");
    let report = again.subject_report(subject, Lang::En).await.unwrap();
    assert!(report.items.iter().any(|i| i.value == "Kim Kjær"));
}

#[tokio::test]
async fn a_missing_key_stops_start_up_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path(), default_file(dir.path())).await.unwrap());
    let key_file = dir.path().join("master.key");
    let original = std::fs::read_to_string(&key_file).unwrap();
    std::fs::rename(&key_file, dir.path().join("elsewhere.key")).unwrap();
    let result = start(dir.path(), default_file(dir.path())).await;
    let Err(CoreError::Key(KeyError::Missing { needed, .. })) = result else { panic!("expected a missing-key error") };
    assert_eq!(needed.len(), 16);
    assert!(!key_file.exists(), "no new key may be created for an existing database");
    let message = KeyError::Missing { path: "x".into(), needed }.to_string();
    assert!(message.contains("Restore the key file"), "{message}");
    std::fs::rename(dir.path().join("elsewhere.key"), &key_file).unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), original);
    start(dir.path(), default_file(dir.path())).await.unwrap();
}

#[tokio::test]
async fn a_wrong_or_malformed_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path(), default_file(dir.path())).await.unwrap());
    let other = MasterKey::generate().unwrap();
    let result = start(dir.path(), KeySource::Inline(other.encode().to_string())).await;
    assert!(matches!(result, Err(CoreError::Key(KeyError::Wrong { .. }))), "{:?}", result.err());
    let result = start(dir.path(), KeySource::Inline("not a key".into())).await;
    assert!(matches!(result, Err(CoreError::Key(KeyError::Malformed { .. }))));
    let explicit = dir.path().join("does-not-exist.key");
    let result = start(dir.path(), KeySource::File { path: explicit, may_create: false }).await;
    assert!(matches!(result, Err(CoreError::Key(KeyError::Unreadable { .. }))));
    // After all that, the right key still opens everything.
    start(dir.path(), default_file(dir.path())).await.unwrap();
}

#[tokio::test]
async fn rotation_rewraps_every_key_and_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), default_file(dir.path())).await.unwrap();
    let subjects = [enrol(&p).await, {
        p.collect(Collection {
            purpose: "newsletter".into(),
            values: vec![("email".into(), "second@eksempel.dk".into())],
            source: "form:newsletter".into(),
            anchor_date: None,
            actor: "subject".into(),
        })
        .await
        .unwrap()
        .subject
    }];
    let old_id = p.keys.ring.current.as_ref().unwrap().id().to_string();
    let rotation = rotate_master_key(&p.store, &p.keys, "admin:cli", 1).await.unwrap();
    assert_eq!(rotation.subject_keys_rewrapped, 2);
    assert_eq!(rotation.old_key_id, old_id);
    for s in subjects {
        assert_eq!(p.store.backend().subject_key(s).await.unwrap().unwrap().master_key_id, rotation.new_key_id);
    }
    drop(p);
    assert!(dir.path().join(format!("master.key.retired-{old_id}")).exists());
    assert!(!dir.path().join("master.key.next").exists());
    let again = start(dir.path(), default_file(dir.path())).await.unwrap();
    assert_eq!(again.keys.ring.current.as_ref().unwrap().id(), rotation.new_key_id);
    let report = again.subject_report(subjects[0], Lang::En).await.unwrap();
    assert!(report.items.iter().any(|i| i.value == "Kim Kjær"));
    pactum_store::audit::verify(again.store.backend(), &again.keys.audit).await.unwrap();
}

/// A server whose registration lapsed while a rotation started, or even finished, must stop: it
/// holds only the old master key (see `pactum_core::running`).
#[tokio::test]
async fn a_server_learns_on_renewal_that_it_must_stop_for_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), default_file(dir.path())).await.unwrap();
    enrol(&server).await;
    let registration = server.register_server().await.unwrap();
    server.renew_server_registration(&registration).await.unwrap();
    assert_eq!(server.running_servers().await.unwrap().len(), 1);

    // A rotation cannot begin while the server is registered.
    let rotator = start(dir.path(), default_file(dir.path())).await.unwrap();
    let refused = rotator.begin_key_rotation().await;
    assert!(matches!(refused, Err(CoreError::ServersRunning { count: 1, .. })), "{refused:?}");

    // The registration lapses (here: given up behind the server's back), a rotation begins...
    server.unregister_server(&registration).await.unwrap();
    let lease = rotator.begin_key_rotation().await.unwrap();
    let renewed = server.renew_server_registration(&registration).await;
    assert!(matches!(renewed, Err(CoreError::RotationRunning { .. })), "{renewed:?}");
    // ...and a second rotation meanwhile is refused too.
    let twice = start(dir.path(), default_file(dir.path())).await.unwrap().begin_key_rotation().await;
    assert!(matches!(twice, Err(CoreError::RotationRunning { .. })), "{twice:?}");

    // Once the rotation has finished, the server holds a master key the database no longer uses.
    server.unregister_server(&registration).await.unwrap();
    rotate_master_key(&rotator.store, &rotator.keys, "admin:cli", 1).await.unwrap();
    rotator.end_key_rotation(&lease).await.unwrap();
    let renewed = server.renew_server_registration(&registration).await;
    assert!(matches!(renewed, Err(CoreError::MasterKeyChanged)), "{renewed:?}");
    // A server started afresh reads the new key and may serve.
    let fresh = start(dir.path(), default_file(dir.path())).await.unwrap();
    fresh.register_server().await.unwrap();
}

#[tokio::test]
async fn a_key_from_the_environment_cannot_be_rotated_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap().encode();
    let p = start(dir.path(), KeySource::Inline(key.to_string())).await.unwrap();
    let refused = rotate_master_key(&p.store, &p.keys, "admin:cli", 1).await;
    let Err(e) = refused else { panic!("rotated an environment key") };
    assert!(matches!(e, KeyError::RotationNeedsKeyFile));
    assert!(e.to_string().contains("put the key in a file and pass --master-key-file"), "{e}");
}
