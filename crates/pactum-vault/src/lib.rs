//! The vault: every personal value is sealed under its subject's own key (DESIGN invariant 3).
//!
//! - A [`MasterKey`] (kept outside the database) wraps each [`SubjectKey`] and the system keys.
//! - [`SubjectKey::seal`] encrypts a value with XChaCha20-Poly1305; the associated data binds the
//!   ciphertext to its table, column and row, so a ciphertext moved elsewhere does not open.
//! - [`BlindIndexKey`] turns an e-mail address into a keyed lookup token (HMAC-SHA-256).
//! - [`AuditKey`] MACs the audit chain.
//!
//! Destroying a wrapped subject key is crypto-shredding: what remains of that person, in the
//! database or any backup of it, can no longer be opened. Nothing here panics or logs.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Version byte in front of every sealed value and wrapped key, for future algorithm changes.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("a ciphertext did not open: wrong key, or the data was altered or moved")]
    Decrypt,
    #[error("a sealed value has an unknown format")]
    Format,
    #[error("a master key must be 64 hexadecimal characters (32 bytes)")]
    MasterKeyEncoding,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| VaultError::Random)?;
    Ok(out)
}

fn seal_with(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let nonce_bytes = random_bytes::<NONCE_LEN>()?;
    let nonce = XNonce::from(nonce_bytes);
    let sealed = cipher.encrypt(&nonce, Payload { msg: plaintext, aad }).map_err(|_| VaultError::Decrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_with(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let (version, rest) = sealed.split_first().ok_or(VaultError::Format)?;
    if *version != FORMAT_V1 || rest.len() < NONCE_LEN + 16 {
        return Err(VaultError::Format);
    }
    let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce_array: [u8; NONCE_LEN] = nonce_bytes.try_into().map_err(|_| VaultError::Format)?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt(&XNonce::from(nonce_array), Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Decrypt)
}

/// Length-prefixed concatenation, so that ("ab","c") and ("a","bc") never give the same bytes.
fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The key that wraps all other keys. It lives in a file or the environment, never in the database.
pub struct MasterKey {
    id: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).field("key", &"[redacted]").finish()
    }
}

impl MasterKey {
    pub fn generate() -> Result<MasterKey, VaultError> {
        Ok(Self::from_bytes(random_bytes()?))
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        let digest = Sha256::digest(framed(&[b"pactum master key id", &bytes]));
        MasterKey { id: hex::encode(&digest[..8]), key: SecretBox::new(Box::new(bytes)) }
    }

    /// Reads the hexadecimal form written by [`MasterKey::encode`]; surrounding white space is ignored.
    pub fn decode(text: &str) -> Result<MasterKey, VaultError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| VaultError::MasterKeyEncoding)?);
        let array: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| VaultError::MasterKeyEncoding)?;
        Ok(Self::from_bytes(array))
    }

    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.expose_secret()))
    }

    /// A public fingerprint of the key; stored beside everything it wraps so the right key is chosen.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wraps a subject's key; `subject_id` becomes associated data.
    pub fn wrap_subject_key(&self, subject_id: &[u8], key: &SubjectKey) -> Result<Vec<u8>, VaultError> {
        seal_with(self.key.expose_secret(), &framed(&[b"subject-key", subject_id, self.id.as_bytes()]), &key.0[..])
    }

    pub fn unwrap_subject_key(&self, subject_id: &[u8], wrapped: &[u8]) -> Result<SubjectKey, VaultError> {
        let opened =
            open_with(self.key.expose_secret(), &framed(&[b"subject-key", subject_id, self.id.as_bytes()]), wrapped)?;
        let array: [u8; KEY_LEN] = opened.as_slice().try_into().map_err(|_| VaultError::Format)?;
        Ok(SubjectKey(Zeroizing::new(array)))
    }

    /// Wraps a system key (blind index, audit) under its name.
    pub fn wrap_system_key(&self, name: &str, key: &SystemKey) -> Result<Vec<u8>, VaultError> {
        seal_with(self.key.expose_secret(), &framed(&[b"system-key", name.as_bytes(), self.id.as_bytes()]), &key.0[..])
    }

    pub fn unwrap_system_key(&self, name: &str, wrapped: &[u8]) -> Result<SystemKey, VaultError> {
        let opened = open_with(
            self.key.expose_secret(),
            &framed(&[b"system-key", name.as_bytes(), self.id.as_bytes()]),
            wrapped,
        )?;
        let array: [u8; KEY_LEN] = opened.as_slice().try_into().map_err(|_| VaultError::Format)?;
        Ok(SystemKey(Zeroizing::new(array)))
    }
}

/// Raw material of a system key before it is put to use as a [`BlindIndexKey`] or [`AuditKey`].
#[derive(Clone)]
pub struct SystemKey(Zeroizing<[u8; KEY_LEN]>);

impl SystemKey {
    pub fn generate() -> Result<SystemKey, VaultError> {
        Ok(SystemKey(Zeroizing::new(random_bytes()?)))
    }
}

/// Where a sealed value lives. It is bound into the ciphertext, so a value copied to another row,
/// column or table no longer opens.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a [u8],
}

impl Binding<'_> {
    fn bytes(&self) -> Vec<u8> {
        framed(&[b"field", self.table.as_bytes(), self.column.as_bytes(), self.row_id])
    }
}

/// One data subject's own data key.
pub struct SubjectKey(Zeroizing<[u8; KEY_LEN]>);

impl SubjectKey {
    pub fn generate() -> Result<SubjectKey, VaultError> {
        Ok(SubjectKey(Zeroizing::new(random_bytes()?)))
    }

    pub fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        seal_with(&self.0, &binding.bytes(), plaintext)
    }

    pub fn open(&self, binding: Binding<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        open_with(&self.0, &binding.bytes(), sealed)
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an all-zero tag rather than panic.
    match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(&framed(parts));
            m.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

/// Keyed lookup tokens for values that must be found without decrypting everything.
#[derive(Clone)]
pub struct BlindIndexKey(SystemKey);

impl BlindIndexKey {
    pub fn new(key: SystemKey) -> Self {
        BlindIndexKey(key)
    }

    /// A keyed tag over `data` in its own `domain`, e.g. to sign form tokens.
    pub fn tag(&self, domain: &str, data: &[u8]) -> Vec<u8> {
        mac(&self.0.0, &[b"tag", domain.as_bytes(), data]).to_vec()
    }

    /// A pseudonymous token for an opaque identifier, such as a consent widget's device id.
    pub fn device(&self, device_id: &str) -> Vec<u8> {
        mac(&self.0.0, &[b"device", device_id.as_bytes()]).to_vec()
    }

    /// Seals a server-side secret, such as a staff member's TOTP seed, under a key derived from
    /// this one, so that it is re-wrapped with the system keys when the master key rotates.
    pub fn seal_secret(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let key = Zeroizing::new(mac(&self.0.0, &[b"secret-seal"]));
        seal_with(&key, &binding.bytes(), plaintext)
    }

    pub fn open_secret(&self, binding: Binding<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let key = Zeroizing::new(mac(&self.0.0, &[b"secret-seal"]));
        open_with(&key, &binding.bytes(), sealed)
    }

    /// The lookup token of an e-mail address: trimmed and lower-cased before hashing.
    pub fn email(&self, email: &str) -> Vec<u8> {
        let normalised = Zeroizing::new(email.trim().to_lowercase());
        mac(&self.0.0, &[b"email", normalised.as_bytes()]).to_vec()
    }
}

/// The key of the audit chain's MAC. Without it nobody can forge a chain that verifies.
#[derive(Clone)]
pub struct AuditKey(SystemKey);

impl AuditKey {
    pub fn new(key: SystemKey) -> Self {
        AuditKey(key)
    }

    /// The link of one audit entry: MAC over the previous link and the entry's canonical fields.
    pub fn link(&self, previous: &[u8], fields: &[&[u8]]) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = vec![b"audit", previous];
        parts.extend_from_slice(fields);
        mac(&self.0.0, &parts).to_vec()
    }

    /// The MAC of a chain head record, so a truncated chain cannot pass as complete.
    pub fn head(&self, chain: &str, seq: u64, hash: &[u8]) -> Vec<u8> {
        mac(&self.0.0, &[b"audit-head", chain.as_bytes(), &seq.to_be_bytes(), hash]).to_vec()
    }
}

/// SHA-256 of some bytes, used for deletion proofs: it shows what was deleted without keeping it.
pub fn digest(parts: &[&[u8]]) -> Vec<u8> {
    Sha256::digest(framed(parts)).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binding(row: &[u8]) -> Binding<'_> {
        Binding { table: "items", column: "value", row_id: row }
    }

    #[test]
    fn sealed_value_opens_only_with_its_key_and_place() -> Result<(), VaultError> {
        let key = SubjectKey::generate()?;
        let sealed = key.seal(binding(b"row-1"), b"Jens Hansen")?;
        assert_eq!(&key.open(binding(b"row-1"), &sealed)?[..], b"Jens Hansen");
        assert!(!sealed.windows(5).any(|w| w == b"Jens "), "ciphertext must not contain the clear text");
        assert_eq!(key.open(binding(b"row-2"), &sealed).err(), Some(VaultError::Decrypt));
        let moved = Binding { table: "items", column: "other", row_id: b"row-1" };
        assert_eq!(key.open(moved, &sealed).err(), Some(VaultError::Decrypt));
        let other = SubjectKey::generate()?;
        assert_eq!(other.open(binding(b"row-1"), &sealed).err(), Some(VaultError::Decrypt));
        Ok(())
    }

    #[test]
    fn tampered_ciphertext_does_not_open() -> Result<(), VaultError> {
        let key = SubjectKey::generate()?;
        let mut sealed = key.seal(binding(b"r"), b"value")?;
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(key.open(binding(b"r"), &sealed).err(), Some(VaultError::Decrypt));
        assert_eq!(key.open(binding(b"r"), &[]).err(), Some(VaultError::Format));
        assert_eq!(key.open(binding(b"r"), &[9, 1, 2]).err(), Some(VaultError::Format));
        Ok(())
    }

    #[test]
    fn subject_key_unwraps_only_with_the_right_master_and_subject() -> Result<(), VaultError> {
        let master = MasterKey::generate()?;
        let key = SubjectKey::generate()?;
        let wrapped = master.wrap_subject_key(b"subject-a", &key)?;
        let again = master.unwrap_subject_key(b"subject-a", &wrapped)?;
        let sealed = key.seal(binding(b"r"), b"x")?;
        assert_eq!(&again.open(binding(b"r"), &sealed)?[..], b"x");
        assert!(master.unwrap_subject_key(b"subject-b", &wrapped).is_err());
        assert!(MasterKey::generate()?.unwrap_subject_key(b"subject-a", &wrapped).is_err());
        Ok(())
    }

    #[test]
    fn master_key_round_trips_through_its_text_form() -> Result<(), VaultError> {
        let master = MasterKey::generate()?;
        let decoded = MasterKey::decode(&format!("{}\n", master.encode().as_str()))?;
        assert_eq!(decoded.id(), master.id());
        assert_eq!(MasterKey::decode("abc").err(), Some(VaultError::MasterKeyEncoding));
        assert_eq!(MasterKey::decode(&"zz".repeat(32)).err(), Some(VaultError::MasterKeyEncoding));
        assert!(!format!("{master:?}").contains(master.encode().as_str()), "Debug must not print the key");
        Ok(())
    }

    #[test]
    fn blind_index_normalises_and_depends_on_the_key() -> Result<(), VaultError> {
        let a = BlindIndexKey::new(SystemKey::generate()?);
        let b = BlindIndexKey::new(SystemKey::generate()?);
        assert_eq!(a.email(" Jens@Example.DK "), a.email("jens@example.dk"));
        assert_ne!(a.email("jens@example.dk"), a.email("jens2@example.dk"));
        assert_ne!(a.email("jens@example.dk"), b.email("jens@example.dk"));
        Ok(())
    }

    proptest! {
        #[test]
        fn any_value_round_trips(value in proptest::collection::vec(any::<u8>(), 0..512), row in proptest::collection::vec(any::<u8>(), 0..32)) {
            let key = SubjectKey::generate().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let sealed = key.seal(binding(&row), &value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let opened = key.open(binding(&row), &sealed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&opened[..], &value[..]);
        }

        #[test]
        fn opening_garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..128)) {
            let key = SubjectKey::generate().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(key.open(binding(b"r"), &garbage).is_err());
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() -> Result<(), VaultError> {
        let key = BlindIndexKey::new(SystemKey::generate()?);
        let other = BlindIndexKey::new(SystemKey::generate()?);
        let row = Binding { table: "staff_accounts", column: "totp_secret", row_id: b"staff-1" };
        let sealed = key.seal_secret(row, b"seed")?;
        assert_ne!(sealed.as_slice(), b"seed".as_slice());
        assert_eq!(key.open_secret(row, &sealed)?.as_slice(), b"seed");
        assert!(other.open_secret(row, &sealed).is_err());
        let moved = Binding { row_id: b"staff-2", ..row };
        assert!(key.open_secret(moved, &sealed).is_err());
        Ok(())
    }
}
