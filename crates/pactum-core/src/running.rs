//! Which Pactum servers run against this database, so that what must not run beside one does not.
//!
//! Rotating the master key re-wraps every person's key under a new master key. A server running
//! meanwhile still holds only the old one: it could not open the re-wrapped keys, and the keys of
//! people who sign up meanwhile would be wrapped under a key that the next start no longer loads.
//! So each `serve` registers itself under a lease of its own ([`SERVER_PREFIX`]), renews it while it
//! runs and gives it up when it stops; `pactum key rotate` holds [`ROTATION_LEASE`] while it runs
//! and refuses to start while any server is registered, and a server does not start while a
//! rotation runs. Both take their own lease before they look for the other's, so that of two
//! starting at once, at least one sees the other.
//!
//! A server that was killed cannot give its registration up: it counts as running until the
//! registration runs out, [`SERVER_LEASE_SECONDS`] after it was last renewed.

use pactum_store::{Backend, Change, Lease, Micros, Op};

use crate::{Clock, CoreError, Pactum};

/// The jobs under which servers register, one per running server.
pub const SERVER_PREFIX: &str = "serve:";
/// How long a server's registration lasts unless renewed.
pub const SERVER_LEASE_SECONDS: i64 = 90;
/// How often a running server renews its registration.
pub const SERVER_RENEWAL: std::time::Duration = std::time::Duration::from_secs(30);
/// The lease a master key rotation holds while it runs.
pub const ROTATION_LEASE: &str = "key.rotation";
/// Every rotation holds the lease under the same name, so that one interrupted (the process was
/// killed) is resumed by the next `pactum key rotate` at once instead of after its lease ran out.
const ROTATION_HOLDER: &str = "pactum key rotate";
/// How long a rotation's lease lasts unless renewed.
const ROTATION_LEASE_SECONDS: i64 = 600;
/// How often a running rotation renews its lease.
pub const ROTATION_RENEWAL: std::time::Duration = std::time::Duration::from_secs(60);

/// A running server's registration.
#[derive(Debug, Clone)]
pub struct ServerRegistration {
    job: String,
}

const SECOND: Micros = 1_000_000;

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Registers this process as a running server, unless a master key rotation is running
    /// ([`CoreError::RotationRunning`]). Registrations of killed servers that ran out go meanwhile.
    pub async fn register_server(&self) -> Result<ServerRegistration, CoreError> {
        let job = format!("{SERVER_PREFIX}{}:{}", self.settings.node, uuid::Uuid::now_v7());
        let registration = ServerRegistration { job };
        let now = self.clock.now_micros();
        let forget = Op::ForgetExpiredLeases { prefix: SERVER_PREFIX.into(), now };
        self.commit_ops(vec![forget, self.server_lease(&registration, now)]).await?;
        if let Some(rotation) = self.store.backend().live_leases(ROTATION_LEASE, now).await?.into_iter().next() {
            self.unregister_server(&registration).await?;
            return Err(CoreError::RotationRunning { until: rotation.until });
        }
        Ok(registration)
    }

    /// Renews a running server's registration.
    pub async fn renew_server_registration(&self, registration: &ServerRegistration) -> Result<(), CoreError> {
        self.commit_ops(vec![self.server_lease(registration, self.clock.now_micros())]).await
    }

    /// Gives a stopping server's registration up.
    pub async fn unregister_server(&self, registration: &ServerRegistration) -> Result<(), CoreError> {
        let job = registration.job.clone();
        self.commit_ops(vec![Op::ReleaseLease { holder: job.clone(), job }]).await
    }

    /// The servers registered now, killed ones included until their registration runs out.
    pub async fn running_servers(&self) -> Result<Vec<Lease>, CoreError> {
        Ok(self.store.backend().live_leases(SERVER_PREFIX, self.clock.now_micros()).await?)
    }

    /// Takes the rotation's lease, unless a server is running ([`CoreError::ServersRunning`]).
    pub async fn begin_key_rotation(&self) -> Result<(), CoreError> {
        self.renew_key_rotation().await?;
        let servers = self.running_servers().await?;
        if let Some(last) = servers.iter().map(|s| s.until).max() {
            self.end_key_rotation().await?;
            return Err(CoreError::ServersRunning { count: servers.len(), until: last });
        }
        Ok(())
    }

    /// Renews the lease of a running rotation.
    pub async fn renew_key_rotation(&self) -> Result<(), CoreError> {
        let now = self.clock.now_micros();
        let op = Op::TakeLease {
            job: ROTATION_LEASE.into(),
            holder: ROTATION_HOLDER.into(),
            now,
            until: now + ROTATION_LEASE_SECONDS * SECOND,
        };
        self.commit_ops(vec![op]).await
    }

    /// Gives the rotation's lease up: servers may start again.
    pub async fn end_key_rotation(&self) -> Result<(), CoreError> {
        self.commit_ops(vec![Op::ReleaseLease { job: ROTATION_LEASE.into(), holder: ROTATION_HOLDER.into() }]).await
    }

    fn server_lease(&self, registration: &ServerRegistration, now: Micros) -> Op {
        Op::TakeLease {
            job: registration.job.clone(),
            holder: registration.job.clone(),
            now,
            until: now + SERVER_LEASE_SECONDS * SECOND,
        }
    }

    async fn commit_ops(&self, ops: Vec<Op>) -> Result<(), CoreError> {
        self.store.commit(Change { at: self.clock.now_micros(), ops, audit: Vec::new() }).await?;
        Ok(())
    }
}
