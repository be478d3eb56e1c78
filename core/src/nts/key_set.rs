//! The cookie master keys (pure): one key per rotation period, each derived from the one before
//! by HKDF, so that
//! - a restart loses nothing (the file holds the kept keys, and the next ones follow from them);
//! - servers that start from a copy of the same file derive the same keys for the same periods
//!   without talking to each other, so a cookie from one is accepted by all;
//! - a key, once dropped, cannot be recomputed from the ones kept (HKDF only goes forward), so a
//!   stolen key file does not open cookies older than the kept window.

use std::collections::VecDeque;

use hkdf::Hkdf;
use sha2::Sha256;

use aes::Aes128Enc;

use super::siv::Siv;

/// An AES-SIV-CMAC-256 key: cookies are sealed with it, which stays safe even if a random
/// nonce repeats (RFC 8915 §6 asks for such an algorithm).
pub const MASTER_KEY_LEN: usize = 32;
const DERIVATION_LABEL: &[u8] = b"stratum1 NTS cookie master key ";
/// Past this many periods to catch up, start a fresh chain instead (an interval of seconds and a
/// server that was off for months).
const MAX_RATCHET_STEPS: u64 = 1_000_000;
const FILE_MAGIC: &str = "stratum1-nts-cookie-keys 1";

/// A master key: its id, its bytes (the key file's content) and its cipher, built once when
/// the key is made so that no request pays for the key schedule.
#[derive(Clone)]
pub struct MasterKey {
    pub id: u32,
    pub bytes: [u8; MASTER_KEY_LEN],
    /// Boxed: the two key schedules take over a kilobyte, built once and then only borrowed.
    cipher: Box<Siv<Aes128Enc>>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        // The cipher follows from the bytes.
        self.id == other.id && self.bytes == other.bytes
    }
}

impl Eq for MasterKey {}

impl MasterKey {
    pub fn new(id: u32, bytes: [u8; MASTER_KEY_LEN]) -> Self {
        // MASTER_KEY_LEN is two AES-128 keys, the length `from_checked_key` wants.
        MasterKey { id, bytes, cipher: Box::new(Siv::from_checked_key(&bytes)) }
    }

    /// The cipher that seals and opens cookies under this key.
    pub fn cipher(&self) -> &Siv<Aes128Enc> {
        &self.cipher
    }
}

/// The id and bytes of the key of the period after `(id, bytes)`.
fn derive_next(id: u32, bytes: &[u8; MASTER_KEY_LEN]) -> (u32, [u8; MASTER_KEY_LEN]) {
    let id = id.wrapping_add(1);
    let mut info = DERIVATION_LABEL.to_vec();
    info.extend_from_slice(&id.to_be_bytes());
    let mut next = [0u8; MASTER_KEY_LEN];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, bytes).expand(&info, &mut next);
    (id, next)
}

/// The kept keys, oldest first, ids consecutive; the newest seals new cookies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieKeySet {
    interval_s: u64,
    /// Previous keys kept besides the current one.
    keep: u32,
    keys: VecDeque<MasterKey>,
}

/// What [`CookieKeySet::advance`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    Unchanged,
    Rotated {
        periods: u64,
    },
    /// Too far behind to derive: a new chain from fresh randomness.
    Restarted,
}

impl CookieKeySet {
    /// A new chain whose first key is `seed` (fresh randomness) for the period of `now_unix`.
    pub fn new(interval_s: u64, keep: u32, seed: [u8; MASTER_KEY_LEN], now_unix: u64) -> Self {
        let interval_s = interval_s.max(1);
        let id = period(now_unix, interval_s);
        CookieKeySet { interval_s, keep, keys: VecDeque::from([MasterKey::new(id, seed)]) }
    }

    pub fn interval_s(&self) -> u64 {
        self.interval_s
    }

    pub fn keep(&self) -> u32 {
        self.keep
    }

    /// The key that seals new cookies.
    pub fn current(&self) -> &MasterKey {
        // `keys` is never empty: every constructor puts one in and `advance` keeps the newest.
        &self.keys[self.keys.len() - 1]
    }

    pub fn get(&self, id: u32) -> Option<&MasterKey> {
        let first = self.keys.front()?.id;
        self.keys.get(id.wrapping_sub(first) as usize).filter(|k| k.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// Whether [`Self::advance`] would change anything at `now_unix`.
    pub fn advance_due(&self, now_unix: u64) -> bool {
        u64::from(period(now_unix, self.interval_s)) > u64::from(self.current().id)
    }

    /// Brings the chain up to the period of `now_unix` and drops keys past the kept window.
    /// `fresh` supplies a new seed only when the chain is too far behind to derive.
    pub fn advance(&mut self, now_unix: u64, fresh: impl FnOnce() -> [u8; MASTER_KEY_LEN]) -> Advance {
        let target = period(now_unix, self.interval_s);
        let newest = u64::from(self.current().id);
        let target_u64 = u64::from(target);
        if target_u64 <= newest {
            return Advance::Unchanged;
        }
        let steps = target_u64 - newest;
        let outcome = if steps > MAX_RATCHET_STEPS {
            self.keys = VecDeque::from([MasterKey::new(target, fresh())]);
            Advance::Restarted
        } else {
            let (mut id, mut bytes) = (self.current().id, self.current().bytes);
            // Only the last `keep + 1` derived keys can survive the trim below: only they get a
            // cipher.
            let skip = steps.saturating_sub(u64::from(self.keep) + 1);
            for i in 0..steps {
                (id, bytes) = derive_next(id, &bytes);
                if i >= skip {
                    self.keys.push_back(MasterKey::new(id, bytes));
                }
            }
            Advance::Rotated { periods: steps }
        };
        while self.keys.len() > self.keep as usize + 1 {
            self.keys.pop_front();
        }
        outcome
    }

    /// The key file's text. Secret: write it with mode 0600.
    pub fn to_file_text(&self) -> String {
        let mut text = format!(
            "{FILE_MAGIC}\n# NTS cookie master keys: secret. Copy to other servers to share cookies.\ninterval-s {}\n",
            self.interval_s
        );
        for key in &self.keys {
            text.push_str(&format!("key {} {}\n", key.id, hex(&key.bytes)));
        }
        text
    }

    /// Reads a key file written by [`Self::to_file_text`]. `keep` comes from the configuration.
    pub fn parse_file_text(text: &str, keep: u32) -> Result<Self, KeyFileError> {
        let mut lines =
            text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.starts_with('#'));
        match lines.next() {
            Some((_, FILE_MAGIC)) => {}
            _ => return Err(KeyFileError::NotAKeyFile),
        }
        let mut interval_s = None;
        let mut keys: VecDeque<MasterKey> = VecDeque::new();
        for (line, content) in lines {
            let fields: Vec<&str> = content.split_whitespace().collect();
            match fields.as_slice() {
                [] => {}
                ["interval-s", value] => {
                    interval_s =
                        Some(value.parse::<u64>().ok().filter(|v| *v > 0).ok_or(KeyFileError::Line(line))?)
                }
                ["key", id, bytes] => {
                    let id: u32 = id.parse().map_err(|_| KeyFileError::Line(line))?;
                    let bytes = unhex(bytes).ok_or(KeyFileError::Line(line))?;
                    if keys.back().is_some_and(|k| k.id.wrapping_add(1) != id) {
                        return Err(KeyFileError::NotConsecutive(line));
                    }
                    keys.push_back(MasterKey::new(id, bytes));
                }
                _ => return Err(KeyFileError::Line(line)),
            }
        }
        let interval_s = interval_s.ok_or(KeyFileError::MissingInterval)?;
        if keys.is_empty() {
            return Err(KeyFileError::NoKeys);
        }
        while keys.len() > keep as usize + 1 {
            keys.pop_front();
        }
        Ok(CookieKeySet { interval_s, keep, keys })
    }
}

fn period(now_unix: u64, interval_s: u64) -> u32 {
    u32::try_from(now_unix / interval_s).unwrap_or(u32::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("not a stratum1 NTS key file (first line must be `{FILE_MAGIC}`)")]
    NotAKeyFile,
    #[error("line {0}: expected `interval-s SECONDS` or `key ID 64-HEX-DIGITS`")]
    Line(usize),
    #[error("line {0}: key ids must be consecutive")]
    NotConsecutive(usize),
    #[error("no `interval-s` line")]
    MissingInterval,
    #[error("no keys")]
    NoKeys,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; MASTER_KEY_LEN]> {
    let digits = text.as_bytes();
    if digits.len() != MASTER_KEY_LEN * 2 {
        return None;
    }
    let mut out = [0u8; MASTER_KEY_LEN];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    const T0: u64 = 1_800_000_000;

    fn set() -> CookieKeySet {
        CookieKeySet::new(DAY, 2, [9; 32], T0)
    }

    fn no_fresh() -> [u8; 32] {
        panic!("a fresh seed was not expected")
    }

    #[test]
    fn rotation_keeps_the_current_and_keep_previous_keys() {
        let mut keys = set();
        let first = keys.current().clone();
        assert_eq!(keys.advance(T0 + 10, no_fresh), Advance::Unchanged);
        assert_eq!(keys.advance(T0 + DAY, no_fresh), Advance::Rotated { periods: 1 });
        assert_eq!(keys.get(first.id), Some(&first));
        assert_ne!(keys.current().bytes, first.bytes);
        keys.advance(T0 + 2 * DAY, no_fresh);
        assert!(keys.get(first.id).is_some(), "two previous keys are kept");
        keys.advance(T0 + 3 * DAY, no_fresh);
        assert!(keys.get(first.id).is_none(), "past the window");
        assert_eq!(keys.ids().count(), 3);
    }

    #[test]
    fn two_servers_from_the_same_file_derive_the_same_keys() {
        let text = set().to_file_text();
        let mut a = CookieKeySet::parse_file_text(&text, 2).unwrap();
        let mut b = CookieKeySet::parse_file_text(&text, 2).unwrap();
        a.advance(T0 + DAY, no_fresh);
        a.advance(T0 + 5 * DAY, no_fresh);
        b.advance(T0 + 5 * DAY, no_fresh);
        assert_eq!(a, b, "stepwise and jumping ahead agree");
    }

    #[test]
    fn the_file_round_trips() {
        let mut keys = set();
        keys.advance(T0 + 2 * DAY, no_fresh);
        let parsed = CookieKeySet::parse_file_text(&keys.to_file_text(), 2).unwrap();
        assert_eq!(parsed, keys);
        assert!(!format!("{:?}", keys.current()).contains("0909"), "Debug hides key bytes");
    }

    #[test]
    fn far_behind_restarts_from_fresh_randomness() {
        let mut keys = CookieKeySet::new(1, 2, [1; 32], T0);
        assert_eq!(keys.advance(T0 + 2 * MAX_RATCHET_STEPS, || [2; 32]), Advance::Restarted);
        assert_eq!(keys.current().bytes, [2; 32]);
        assert_eq!(keys.ids().count(), 1);
    }

    #[test]
    fn bad_files_are_errors() {
        let good = set().to_file_text();
        assert_eq!(CookieKeySet::parse_file_text("", 2), Err(KeyFileError::NotAKeyFile));
        assert_eq!(
            CookieKeySet::parse_file_text(&good.replace("interval-s 86400\n", ""), 2),
            Err(KeyFileError::MissingInterval)
        );
        let short_key = good.replace("0909", "09");
        assert!(matches!(CookieKeySet::parse_file_text(&short_key, 2), Err(KeyFileError::Line(_))));
        let gap = format!("{good}key 1 {}\n", hex(&[0; 32]));
        assert!(matches!(CookieKeySet::parse_file_text(&gap, 2), Err(KeyFileError::NotConsecutive(_))));
        assert_eq!(
            CookieKeySet::parse_file_text(&format!("{FILE_MAGIC}\ninterval-s 5\n"), 2),
            Err(KeyFileError::NoKeys)
        );
    }
}
