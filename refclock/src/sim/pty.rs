//! A pseudo-terminal for the simulated receiver, so that its NMEA reaches the daemon through
//! the same serial code path as a real receiver's. The only `unsafe` in the simulator.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The master side of a pty, with its slave configured raw (no echo, no CR/LF translation).
pub struct Pty {
    master: File,
    /// Held open so the slave keeps its raw settings between readers.
    _slave: OwnedFd,
    slave_path: PathBuf,
}

impl Pty {
    pub fn open() -> io::Result<Pty> {
        // SAFETY: posix_openpt takes flags only and returns a new fd or -1.
        let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK) };
        if master < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `master` is a fresh, owned, valid fd.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        let fd = master.as_raw_fd();
        // SAFETY: grantpt/unlockpt take a valid pty master fd.
        if unsafe { libc::grantpt(fd) } != 0 || unsafe { libc::unlockpt(fd) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: the buffer and its length are valid; ptsname_r NUL-terminates on success.
        if unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated string.
        let slave_path =
            PathBuf::from(unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned());
        let slave = File::options().read(true).write(true).open(&slave_path)?;
        make_raw(&slave)?;
        Ok(Pty { master: File::from(master), _slave: slave.into(), slave_path })
    }

    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Writes what fits; a receiver keeps talking whether or not anyone listens, so bytes
    /// beyond a full buffer are dropped, as on a real UART.
    pub fn write_lossy(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.master.write(bytes) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }
}

fn make_raw(tty: &File) -> io::Result<()> {
    // SAFETY: termios is plain data; tcgetattr fills it from a valid tty fd before use.
    let mut settings: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut settings) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: cfmakeraw only edits the struct it is given.
    unsafe { libc::cfmakeraw(&mut settings) };
    // SAFETY: valid fd and a fully initialised termios.
    if unsafe { libc::tcsetattr(tty.as_raw_fd(), libc::TCSANOW, &settings) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
