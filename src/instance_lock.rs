//! One daemon per state directory: the directory of `clock.state-file` holds `stratum1d.lock`,
//! locked (`flock`, exclusive) for as long as the daemon runs, with its process id inside. A
//! second daemon pointed at the same state would overwrite the first's drift and keys; it
//! refuses to start instead, naming the holder. The kernel drops the lock when the process
//! ends, however it ends, so a stale file never blocks a restart.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    pub fn acquire(directory: &Path) -> io::Result<InstanceLock> {
        let path = directory.join("stratum1d.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor this File owns; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another stratum1d (pid {}) already runs with the state in {}",
                    holder.split_whitespace().next().unwrap_or("unknown"),
                    directory.display()
                ),
            ));
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(InstanceLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_the_lock_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file, so a second open in this process conflicts too.
        let e = InstanceLock::acquire(dir.path()).unwrap_err();
        assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
        drop(first);
        InstanceLock::acquire(dir.path()).expect("free again once the holder is gone");
    }
}
