//! Staff accounts: invitation by a one-time setup link, argon2id passwords, a TOTP second factor,
//! lockout after repeated failures, sessions kept only as token hashes, and the roles.
//!
//! Which role may use which page is decided in one table in the web layer; what a role may see of
//! a record (an instructor, only their own sessions' rosters) is decided here, next to the data.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use pactum_policy::Lang;
use pactum_store::{AuditEvent, Backend, Change, Micros, Op, StaffAccount, StaffId, StaffSession};
use pactum_vault::Binding;
use totp_rs::Totp;

use crate::newsletter::{new_token, token_hash};
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

/// Consecutive failed logins after which an account is locked.
pub const LOCK_AFTER: u32 = 5;
/// How long a locked account stays locked.
pub const LOCK_MINUTES: i64 = 15;
/// How long a staff session lasts, however active.
pub const SESSION_HOURS: i64 = 8;
/// How long a setup link may be used.
pub const SETUP_HOURS: i64 = 72;
pub const MIN_PASSWORD: u32 = 12;
pub const MAX_PASSWORD: u32 = 256;

const MICROS_PER_MINUTE: i64 = 60_000_000;

/// What a staff member does; every page and API route grants access by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Coordinator,
    Instructor,
    Dpo,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Coordinator, Role::Instructor, Role::Dpo];

    pub fn key(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Instructor => "instructor",
            Role::Dpo => "dpo",
        }
    }

    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.key() == key)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Role::Admin, _) => "Admin",
            (Role::Coordinator, Lang::Da) => "Kursuskoordinator",
            (Role::Coordinator, Lang::En) => "Course coordinator",
            (Role::Instructor, Lang::Da) => "Underviser",
            (Role::Instructor, Lang::En) => "Instructor",
            (Role::Dpo, Lang::Da) => "Databeskyttelsesansvarlig",
            (Role::Dpo, Lang::En) => "Data protection officer",
        }
    }
}

/// A signed-in staff member, as every staff page sees them.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: StaffId,
    pub username: String,
    pub role: Role,
    /// The hash of the session token: the key of the session and the seed of its CSRF token.
    pub session_hash: Vec<u8>,
}

impl Staff {
    /// The actor recorded in the audit chain: pseudonymous, like every other reference there.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.id)
    }
}

/// The cost of password hashing. Production uses argon2's recommended cost; tests a cheap one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl PasswordCost {
    /// argon2id with 19 MiB and two passes (OWASP's recommendation).
    pub const RECOMMENDED: PasswordCost = PasswordCost { memory_kib: 19 * 1024, iterations: 2 };
    /// For tests only: as cheap as argon2 allows.
    pub const CHEAP_FOR_TESTS: PasswordCost = PasswordCost { memory_kib: 64, iterations: 1 };

    fn hasher(self) -> Result<Argon2<'static>, CoreError> {
        let params = Params::new(self.memory_kib, self.iterations, 1, None)
            .map_err(|e| CoreError::Vault(format!("password cost: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A new account waiting for its owner to open the setup link.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub staff: StaffId,
    pub setup_url: String,
    pub expires_at: Micros,
}

/// What the setup page shows: the Totp seed to put into an authenticator app.
#[derive(Debug, Clone)]
pub struct SetupDetails {
    pub username: String,
    pub role: Role,
    pub totp_secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// The session token for the cookie; the database has only its hash.
    SignedIn { token: String, staff: StaffId },
    /// Wrong username, password or code, or the account is locked. The answer does not say which.
    Refused,
}

fn totp_binding(id: &StaffId) -> Binding<'_> {
    Binding { table: "staff_accounts", column: "totp_secret", row_id: id.as_bytes() }
}

/// The authenticator every staff account uses: RFC 6238 defaults (SHA-1, six digits, 30 s, one
/// step of clock skew either way), which every authenticator app understands.
pub fn authenticator(seed: Vec<u8>) -> Result<Totp, CoreError> {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(seed)
        .build()
        .map_err(|e| CoreError::Vault(format!("totp: {e}")))
}

fn field_error(field: &str, problem: Problem) -> CoreError {
    CoreError::Invalid(vec![FieldError { field: field.into(), problem }])
}

fn valid_username(username: &str) -> bool {
    (2..=64).contains(&username.chars().count())
        && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c))
}

fn check_password(password: &str) -> Result<(), CoreError> {
    let length = u32::try_from(password.chars().count()).unwrap_or(u32::MAX);
    if length < MIN_PASSWORD {
        return Err(field_error("password", Problem::TooShort(MIN_PASSWORD)));
    }
    if length > MAX_PASSWORD {
        return Err(field_error("password", Problem::TooLong(MAX_PASSWORD)));
    }
    Ok(())
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A fixed hash to verify against when the username is unknown, so that the answer takes as long.
const DECOY_PASSWORD: &[u8] = b"pactum-decoy-password";

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Creates an account (or renews the setup link of one never set up) and returns its
    /// one-time setup link. The account can do nothing until its owner sets a password and Totp.
    pub async fn invite_staff(&self, actor: &str, username: &str, role: Role) -> Result<Invitation, CoreError> {
        let username = username.trim().to_lowercase();
        if !valid_username(&username) {
            return Err(field_error("username", Problem::NotAUsername));
        }
        let now = self.clock.now_micros();
        let existing = self.store.backend().staff_by_username(&username).await?;
        let account = match existing {
            Some(a) if a.password_hash.is_some() && a.disabled_at.is_none() => {
                return Err(field_error("username", Problem::Taken));
            }
            Some(a) => a,
            None => {
                let id = StaffId::new();
                let mut seed = [0u8; 20];
                getrandom::fill(&mut seed)
                    .map_err(|_| CoreError::Vault("the random number generator failed".into()))?;
                let sealed = self
                    .keys
                    .blind_index
                    .seal_secret(totp_binding(&id), &seed)
                    .map_err(|e| CoreError::Vault(e.to_string()))?;
                StaffAccount {
                    id,
                    username,
                    role: role.key().into(),
                    password_hash: None,
                    totp_secret: sealed,
                    failed_logins: 0,
                    locked_until: None,
                    setup_hash: None,
                    setup_expires_at: None,
                    created_at: now,
                    disabled_at: None,
                }
            }
        };
        let (token, hash) = new_token()?;
        let expires_at = now + SETUP_HOURS * 60 * MICROS_PER_MINUTE;
        let account = StaffAccount {
            role: role.key().into(),
            password_hash: None,
            setup_hash: Some(hash),
            setup_expires_at: Some(expires_at),
            disabled_at: None,
            ..account
        };
        let event = AuditEvent::new(
            actor,
            "staff.invite",
            None,
            serde_json::json!({"staff": account.id.to_string(), "role": role.key()}),
        );
        let staff = account.id;
        self.store.commit(Change { at: now, ops: vec![Op::PutStaff(account)], audit: vec![event] }).await?;
        let setup_url = format!("{}/admin/setup/{token}", self.settings.public_url);
        Ok(Invitation { staff, setup_url, expires_at })
    }

    async fn account_by_setup_token(&self, token: &str) -> Result<StaffAccount, CoreError> {
        let account = self
            .store
            .backend()
            .staff_by_setup_hash(&token_hash(token))
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or(CoreError::InvalidLink)?;
        if account.setup_expires_at.is_none_or(|t| t < self.clock.now_micros()) {
            return Err(CoreError::LinkExpired);
        }
        Ok(account)
    }

    fn totp_of(&self, account: &StaffAccount) -> Result<Totp, CoreError> {
        let seed = self
            .keys
            .blind_index
            .open_secret(totp_binding(&account.id), &account.totp_secret)
            .map_err(|e| CoreError::Vault(e.to_string()))?;
        authenticator(seed.to_vec())
    }

    /// What the setup page shows for a valid setup link.
    pub async fn staff_setup(&self, token: &str) -> Result<SetupDetails, CoreError> {
        let account = self.account_by_setup_token(token).await?;
        let role = Role::from_key(&account.role).ok_or(CoreError::InvalidLink)?;
        let secret = self.totp_of(&account)?.secret().to_base32();
        let issuer = percent_encode(&self.policy.controller.name);
        let otpauth_uri = format!(
            "otpauth://totp/{issuer}:{}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
            percent_encode(&account.username)
        );
        Ok(SetupDetails { username: account.username, role, totp_secret: secret, otpauth_uri })
    }

    /// Sets the password, once the code proves the authenticator holds the seed. The link is used up.
    pub async fn complete_staff_setup(&self, token: &str, password: &str, code: &str) -> Result<StaffId, CoreError> {
        let account = self.account_by_setup_token(token).await?;
        check_password(password)?;
        if self.code_step(&account, code)?.is_none() {
            return Err(field_error("code", Problem::WrongCode));
        }
        let hash = self.hash_password(password).await?;
        let now = self.clock.now_micros();
        let event = AuditEvent::new(
            &format!("staff:{}", account.id),
            "staff.setup",
            None,
            serde_json::json!({"staff": account.id.to_string()}),
        );
        let id = account.id;
        let account = StaffAccount {
            password_hash: Some(hash),
            setup_hash: None,
            setup_expires_at: None,
            failed_logins: 0,
            locked_until: None,
            ..account
        };
        self.store.commit(Change { at: now, ops: vec![Op::PutStaff(account)], audit: vec![event] }).await?;
        Ok(id)
    }

    /// The TOTP time step the code belongs to, if it matches the account's authenticator.
    fn code_step(&self, account: &StaffAccount, code: &str) -> Result<Option<i64>, CoreError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Ok(None);
        }
        let now = u64::try_from(self.clock.now_micros() / 1_000_000).unwrap_or(0);
        Ok(self.totp_of(account)?.check(&code, now).and_then(|step| i64::try_from(step).ok()))
    }

    async fn hash_password(&self, password: &str) -> Result<String, CoreError> {
        let hasher = self.settings.password_cost.hasher()?;
        let password = zeroize::Zeroizing::new(password.as_bytes().to_vec());
        tokio::task::spawn_blocking(move || hasher.hash_password(&password).map(|h| h.to_string()))
            .await
            .map_err(|_| CoreError::Vault("password hashing stopped".into()))?
            .map_err(|e| CoreError::Vault(format!("password hashing: {e}")))
    }

    async fn password_matches(&self, stored: Option<String>, password: &str) -> Result<bool, CoreError> {
        let hasher = self.settings.password_cost.hasher()?;
        let password = zeroize::Zeroizing::new(password.as_bytes().to_vec());
        tokio::task::spawn_blocking(move || {
            let stored = match stored {
                Some(s) => s,
                // Unknown user: spend the same time on a decoy, then refuse.
                None => {
                    let _ = hasher.hash_password(DECOY_PASSWORD);
                    return false;
                }
            };
            match argon2::PasswordHash::new(&stored) {
                Ok(parsed) => hasher.verify_password(&password, &parsed).is_ok(),
                Err(_) => false,
            }
        })
        .await
        .map_err(|_| CoreError::Vault("password check stopped".into()))
    }

    /// Checks username, password and Totp code. Five failures in a row lock the account for
    /// fifteen minutes; the answer is the same for an unknown user, a wrong secret and a lock.
    pub async fn staff_login(&self, username: &str, password: &str, code: &str) -> Result<LoginOutcome, CoreError> {
        let now = self.clock.now_micros();
        let username = username.trim().to_lowercase();
        let account =
            if valid_username(&username) { self.store.backend().staff_by_username(&username).await? } else { None };
        let usable = account.filter(|a| a.disabled_at.is_none() && a.password_hash.is_some());
        let Some(account) = usable else {
            self.password_matches(None, password).await?;
            return Ok(LoginOutcome::Refused);
        };
        let locked = account.locked_until.is_some_and(|until| until > now);
        let password_ok = self.password_matches(account.password_hash.clone(), password).await?;
        let step = if !locked && password_ok { self.code_step(&account, code)? } else { None };
        let actor = format!("staff:{}", account.id);
        let Some(step) = step else {
            let op = Op::StaffLoginFailed {
                staff: account.id,
                lock_after: LOCK_AFTER,
                locked_until: now + LOCK_MINUTES * MICROS_PER_MINUTE,
            };
            let event = AuditEvent::new(
                &actor,
                "staff.login_refused",
                None,
                serde_json::json!({"staff": account.id.to_string(), "locked": locked}),
            );
            self.store.commit(Change { at: now, ops: vec![op], audit: vec![event] }).await?;
            return Ok(LoginOutcome::Refused);
        };
        let (token, hash) = new_token()?;
        let session = StaffSession {
            token_hash: hash,
            staff: account.id,
            created_at: now,
            expires_at: now + SESSION_HOURS * 60 * MICROS_PER_MINUTE,
        };
        let event = AuditEvent::new(&actor, "staff.login", None, serde_json::json!({"staff": account.id.to_string()}));
        let ops = vec![
            Op::DeleteExpiredStaffSessions { expired_before: now },
            Op::PutStaffSession(session),
            Op::StaffLoginSucceeded { staff: account.id, totp_step: step },
        ];
        match self.store.commit(Change { at: now, ops, audit: vec![event] }).await {
            Ok(()) => Ok(LoginOutcome::SignedIn { token, staff: account.id }),
            // The code was used already (RFC 6238 §5.2): a replayed code signs nobody in.
            Err(pactum_store::StoreError::Conflict(_)) => Ok(LoginOutcome::Refused),
            Err(e) => Err(e.into()),
        }
    }

    /// The staff member a session token belongs to, while the session and the account are valid.
    pub async fn staff_session(&self, token: &str) -> Result<Option<Staff>, CoreError> {
        if token.len() != 64 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let backend = self.store.backend();
        let Some(session) = backend.staff_session(&hash).await? else { return Ok(None) };
        if session.expires_at <= self.clock.now_micros() {
            return Ok(None);
        }
        let Some(account) = backend.staff_account(session.staff).await? else { return Ok(None) };
        let role = Role::from_key(&account.role);
        Ok(match (account.disabled_at, role) {
            (None, Some(role)) => {
                Some(Staff { id: account.id, username: account.username, role, session_hash: session.token_hash })
            }
            _ => None,
        })
    }

    pub async fn staff_logout(&self, staff: &Staff) -> Result<(), CoreError> {
        let now = self.clock.now_micros();
        let event =
            AuditEvent::new(&staff.actor(), "staff.logout", None, serde_json::json!({"staff": staff.id.to_string()}));
        let op = Op::DeleteStaffSession { token_hash: staff.session_hash.clone() };
        self.store.commit(Change { at: now, ops: vec![op], audit: vec![event] }).await?;
        Ok(())
    }

    /// Disables an account: its sessions stop working at once and it can no longer sign in.
    pub async fn disable_staff(&self, by: &Staff, id: StaffId) -> Result<(), CoreError> {
        let backend = self.store.backend();
        let account = backend.staff_account(id).await?.ok_or(CoreError::UnknownStaff)?;
        if account.id == by.id {
            return Err(CoreError::Forbidden);
        }
        let now = self.clock.now_micros();
        let event =
            AuditEvent::new(&by.actor(), "staff.disable", None, serde_json::json!({"staff": account.id.to_string()}));
        let account = StaffAccount { disabled_at: Some(now), setup_hash: None, setup_expires_at: None, ..account };
        self.store.commit(Change { at: now, ops: vec![Op::PutStaff(account)], audit: vec![event] }).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_plain_and_bounded() {
        assert!(valid_username("ida.holm@metier"));
        assert!(!valid_username("Ida"));
        assert!(!valid_username("i"));
        assert!(!valid_username("ida holm"));
        assert!(!valid_username(&"a".repeat(65)));
    }

    #[test]
    fn passwords_have_a_minimum_and_maximum_length() {
        assert!(check_password("elleve tegn").is_err());
        assert!(check_password("tolv tegn ok").is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn roles_round_trip_through_their_keys() {
        for role in Role::ALL {
            assert_eq!(Role::from_key(role.key()), Some(role));
        }
        assert_eq!(Role::from_key("root"), None);
    }
}
