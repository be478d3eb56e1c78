//! The cookie keys on disk and their rotation: loaded (or made) at start, advanced by a thread
//! every second, written after every change (temporary file, fsync, rename, mode 0600).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use stratum1_core::nts::SharedKeys;
use stratum1_core::nts::{Advance, CookieKeySet, MASTER_KEY_LEN};

const CHECK_EVERY: Duration = Duration::from_secs(1);

pub fn unix_now() -> u64 {
    crate::host_clock::unix_seconds().max(0) as u64
}

fn fresh_seed() -> io::Result<[u8; MASTER_KEY_LEN]> {
    let mut seed = [0u8; MASTER_KEY_LEN];
    getrandom::getrandom(&mut seed).map_err(|e| io::Error::other(format!("no randomness for a key: {e}")))?;
    Ok(seed)
}

/// Loads the key file, or starts a new chain (and writes it) when there is none. A file that
/// exists but cannot be read is an error: silently replacing it would invalidate every cookie
/// of every server sharing it.
pub fn load_or_create(path: Option<&Path>, interval_s: u64, keep: u32) -> io::Result<CookieKeySet> {
    let now = unix_now();
    let Some(path) = path else {
        return Ok(CookieKeySet::new(interval_s, keep, fresh_seed()?, now));
    };
    let mut keys = match std::fs::read_to_string(path) {
        Ok(text) => {
            let keys = CookieKeySet::parse_file_text(&text, keep).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
            })?;
            if keys.interval_s() == interval_s {
                keys
            } else {
                // Key ids count periods of the interval: a new interval starts a new chain.
                tracing::warn!(
                    "{}: written with key-rotation-s {} but configured {}; starting new keys (clients repeat NTS-KE)",
                    path.display(),
                    keys.interval_s(),
                    interval_s
                );
                CookieKeySet::new(interval_s, keep, fresh_seed()?, now)
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            CookieKeySet::new(interval_s, keep, fresh_seed()?, now)
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
    };
    let seed = fresh_seed()?;
    keys.advance(now, || seed);
    save(path, &keys)?;
    Ok(keys)
}

pub fn save(path: &Path, keys: &CookieKeySet) -> io::Result<()> {
    crate::atomic_file::write(path, keys.to_file_text().as_bytes(), 0o600)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// The thread that rotates the keys on time.
pub struct KeyRotation {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl KeyRotation {
    pub fn start(keys: SharedKeys, path: Option<PathBuf>) -> io::Result<KeyRotation> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("nts-keys".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(CHECK_EVERY);
                rotate_once(&keys, path.as_deref());
            }
        })?;
        Ok(KeyRotation { stop, thread })
    }

    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("the NTS key rotation thread panicked");
        }
    }
}

fn rotate_once(keys: &RwLock<CookieKeySet>, path: Option<&Path>) {
    let now = unix_now();
    let due = keys.read().is_ok_and(|k| k.advance_due(now));
    if !due {
        return;
    }
    let Ok(seed) = fresh_seed() else {
        tracing::error!("no randomness: NTS keys not rotated");
        return;
    };
    let snapshot = {
        let mut guard = keys.write().unwrap_or_else(|p| p.into_inner());
        match guard.advance(now, || seed) {
            Advance::Unchanged => return,
            Advance::Rotated { periods } => tracing::info!(
                "nts: cookie key rotated ({periods} period(s)), now key {}",
                guard.current().id
            ),
            Advance::Restarted => tracing::warn!("nts: cookie keys too far behind; started a new chain"),
        }
        guard.clone()
    };
    if let Some(path) = path {
        if let Err(e) = save(path, &snapshot) {
            tracing::error!("nts: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_made_0600_and_reloaded_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nts-keys");
        let first = load_or_create(Some(&path), 86_400, 3).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = load_or_create(Some(&path), 86_400, 3).unwrap();
        assert_eq!(again, first, "a restart keeps the keys");
        let changed = load_or_create(Some(&path), 3_600, 3).unwrap();
        assert_ne!(changed.current().bytes, first.current().bytes, "a new interval, a new chain");
    }

    #[test]
    fn an_unreadable_file_is_an_error_not_a_silent_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nts-keys");
        std::fs::write(&path, "garbage\n").unwrap();
        let e = load_or_create(Some(&path), 86_400, 3).unwrap_err();
        assert!(e.to_string().contains("nts-keys"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage\n", "left as it was");
    }
}
