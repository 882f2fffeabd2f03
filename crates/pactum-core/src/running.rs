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
//! registration runs out, [`SERVER_LEASE_SECONDS`] after it was last renewed. A server whose
//! registration lapsed (the database was out of reach for longer) finds out when it renews: if a
//! rotation is running, or the database's keys are wrapped under a master key it does not hold,
//! it must stop ([`Pactum::renew_server_registration`]).

use pactum_store::{Backend, Change, Lease, Micros, Op, StoreError};

use crate::{Clock, CoreError, Pactum};

/// The jobs under which servers register, one per running server.
pub const SERVER_PREFIX: &str = "serve:";
/// How long a server's registration lasts unless renewed.
pub const SERVER_LEASE_SECONDS: i64 = 90;
/// How often a running server renews its registration.
pub const SERVER_RENEWAL: std::time::Duration = std::time::Duration::from_secs(30);
/// The lease a master key rotation holds while it runs.
pub const ROTATION_LEASE: &str = "key.rotation";
/// How long a rotation's lease lasts unless renewed: an interrupted rotation (the process was
/// killed) keeps servers and the next rotation out no longer than this.
const ROTATION_LEASE_SECONDS: i64 = 120;
/// How often a running rotation renews its lease.
pub const ROTATION_RENEWAL: std::time::Duration = std::time::Duration::from_secs(30);

/// A running server's registration.
#[derive(Debug, Clone)]
pub struct ServerRegistration {
    job: String,
}

/// A running rotation's hold on [`ROTATION_LEASE`]: each rotation its own, so that a second one
/// started meanwhile is refused instead of sharing it.
#[derive(Debug, Clone)]
pub struct RotationLease {
    holder: String,
}

/// The node a server's registration names (`serve:NODE:ID`).
fn node_of(lease: &Lease) -> &str {
    let rest = lease.job.strip_prefix(SERVER_PREFIX).unwrap_or(&lease.job);
    rest.rsplit_once(':').map_or(rest, |(node, _)| node)
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
        if let Err(e) = self.may_keep_serving().await {
            self.unregister_server(&registration).await?;
            return Err(e);
        }
        Ok(registration)
    }

    /// Renews a running server's registration. [`CoreError::RotationRunning`] or
    /// [`CoreError::MasterKeyChanged`] when the server must stop: its registration lapsed and a
    /// rotation started, or even finished, meanwhile.
    pub async fn renew_server_registration(&self, registration: &ServerRegistration) -> Result<(), CoreError> {
        self.commit_ops(vec![self.server_lease(registration, self.clock.now_micros())]).await?;
        self.may_keep_serving().await
    }

    /// Whether this process may serve: no rotation runs, and every key in the database is wrapped
    /// under a master key it holds.
    async fn may_keep_serving(&self) -> Result<(), CoreError> {
        let backend = self.store.backend();
        if let Some(rotation) = backend.live_leases(ROTATION_LEASE, self.clock.now_micros()).await?.into_iter().next() {
            return Err(CoreError::RotationRunning { until: rotation.until });
        }
        if backend.vault_keys().await?.iter().any(|k| self.keys.ring.by_id(&k.key.master_key_id).is_none()) {
            return Err(CoreError::MasterKeyChanged);
        }
        Ok(())
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

    /// Takes the rotation's lease, unless a server is running ([`CoreError::ServersRunning`]) or
    /// another rotation is ([`CoreError::RotationRunning`]).
    pub async fn begin_key_rotation(&self) -> Result<RotationLease, CoreError> {
        let lease = RotationLease { holder: format!("{}:{}", self.settings.node, uuid::Uuid::now_v7()) };
        if let Err(e) = self.renew_key_rotation(&lease).await {
            return Err(match e {
                CoreError::Store(StoreError::LeaseHeld) => {
                    let now = self.clock.now_micros();
                    let until = self.store.backend().live_leases(ROTATION_LEASE, now).await?.first().map(|l| l.until);
                    CoreError::RotationRunning { until: until.unwrap_or(now) }
                }
                other => other,
            });
        }
        let servers = self.running_servers().await?;
        if let Some(last) = servers.iter().map(|s| s.until).max() {
            self.end_key_rotation(&lease).await?;
            let mut nodes: Vec<String> = servers.iter().map(|s| node_of(s).to_string()).collect();
            nodes.dedup();
            return Err(CoreError::ServersRunning { count: servers.len(), nodes: nodes.join(", "), until: last });
        }
        Ok(lease)
    }

    /// Renews the lease of a running rotation.
    pub async fn renew_key_rotation(&self, lease: &RotationLease) -> Result<(), CoreError> {
        let now = self.clock.now_micros();
        let op = Op::TakeLease {
            job: ROTATION_LEASE.into(),
            holder: lease.holder.clone(),
            now,
            until: now + ROTATION_LEASE_SECONDS * SECOND,
        };
        self.commit_ops(vec![op]).await
    }

    /// Gives the rotation's lease up: servers may start again.
    pub async fn end_key_rotation(&self, lease: &RotationLease) -> Result<(), CoreError> {
        self.commit_ops(vec![Op::ReleaseLease { job: ROTATION_LEASE.into(), holder: lease.holder.clone() }]).await
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
