//! NTS sessions kept across restarts (like chrony's `ntsdumpdir`): the agreed AEAD, the two
//! keys, the unused cookies and the NTP server records, one file per source, mode 0600 (the
//! keys are secrets). A restart then costs no key establishment; cookies the server no longer
//! accepts bring an NTSN and a new key exchange, as they would anyway.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::nts::client::KeSession;
use stratum1_core::nts::{AeadAlgorithm, AeadKey};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    algorithm: u16,
    c2s: String,
    s2c: String,
    cookies: Vec<String>,
    ntp_server: Option<String>,
    ntp_port: Option<u16>,
}

/// The file for the source at `address` in `dir`: the address with anything but letters,
/// digits, dots and dashes turned into `_`.
pub fn path_for(dir: &Path, address: &str) -> PathBuf {
    let name: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    dir.join(format!("{name}.nts.json"))
}

/// The session as file text.
pub fn to_text(session: &KeSession) -> String {
    let stored = Stored {
        algorithm: session.algorithm.id(),
        c2s: hex(session.c2s.as_bytes()),
        s2c: hex(session.s2c.as_bytes()),
        cookies: session.cookies.iter().map(|c| hex(c)).collect(),
        ntp_server: session.ntp_server.clone(),
        ntp_port: session.ntp_port,
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

/// A session read back; any damage is an error (the caller then runs key establishment).
pub fn from_text(text: &str) -> Result<KeSession, String> {
    let stored: Stored = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let algorithm = AeadAlgorithm::from_id(stored.algorithm).ok_or("unknown AEAD algorithm")?;
    let key = |h: &str| -> Result<AeadKey, String> {
        let bytes = unhex(h).ok_or("a key is not hex")?;
        AeadKey::new(algorithm, &bytes).map_err(|e| e.to_string())
    };
    let cookies =
        stored.cookies.iter().map(|c| unhex(c).ok_or("a cookie is not hex")).collect::<Result<_, _>>()?;
    Ok(KeSession {
        algorithm,
        c2s: key(&stored.c2s)?,
        s2c: key(&stored.s2c)?,
        cookies,
        ntp_server: stored.ntp_server,
        ntp_port: stored.ntp_port,
        leaf_certificate: Vec::new(),
    })
}

pub fn load(path: &Path) -> io::Result<Option<KeSession>> {
    match std::fs::read_to_string(path) {
        Ok(text) => from_text(&text).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the session, making its directory (mode 0700) if it is not there yet.
pub fn save(path: &Path, session: &KeSession) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    crate::atomic_file::write(path, to_text(session).as_bytes(), 0o600)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> KeSession {
        let algorithm = AeadAlgorithm::AesSivCmac256;
        KeSession {
            algorithm,
            c2s: AeadKey::new(algorithm, &[1; 32]).unwrap(),
            s2c: AeadKey::new(algorithm, &[2; 32]).unwrap(),
            cookies: vec![vec![0xde, 0xad], vec![0xbe, 0xef, 0x01]],
            ntp_server: Some("ntp.example.net".into()),
            ntp_port: Some(123),
            leaf_certificate: vec![9, 9],
        }
    }

    #[test]
    fn a_session_survives_the_round_trip_but_not_damage() {
        let back = from_text(&to_text(&session())).unwrap();
        assert_eq!(back.c2s, session().c2s);
        assert_eq!(back.s2c, session().s2c);
        assert_eq!(back.cookies, session().cookies);
        assert_eq!((back.ntp_server, back.ntp_port), (Some("ntp.example.net".into()), Some(123)));
        assert!(from_text("{").is_err());
        let text = to_text(&session()).replace("\"algorithm\":15", "\"algorithm\":99");
        assert!(from_text(&text).unwrap_err().contains("unknown AEAD"));
        let text = to_text(&session()).replace("dead", "zz");
        assert!(from_text(&text).is_err());
    }

    #[test]
    fn files_are_named_by_address_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("made-on-first-save"), "[::1]:4460");
        assert_eq!(path.file_name().unwrap(), "___1__4460.nts.json");
        assert!(load(&path).unwrap().is_none());
        save(&path, &session()).unwrap();
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&path).unwrap().unwrap().cookies.len(), 2);
    }
}
