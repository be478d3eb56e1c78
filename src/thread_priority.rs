//! Lowering one thread's CPU priority (`setpriority` on its thread id), so that under a flood
//! the key-establishment thread yields the CPU to the NTP workers: NTP is what every client
//! needs every poll, NTS-KE what a client needs once a day.

/// Nice value of the key-establishment thread (the NTP workers keep 0).
pub const KE_NICE: i32 = 5;

/// Makes the calling thread `nice` steps nicer. Unprivileged processes may always do this; a
/// failure only leaves the priority as it was, so it is logged and otherwise ignored.
pub fn lower_this_thread(nice: i32, what: &str) {
    // SAFETY: gettid has no arguments and cannot fail; get/setpriority take plain integers
    // (the thread's own id always exists, so getpriority's -1 is a nice value, not an error).
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (current + nice).min(19))
    };
    if rc != 0 {
        tracing::debug!("{what}: priority left as it was: {}", std::io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calling_thread_only_is_lowered() {
        let nice_of = |tid: libc::id_t| {
            // SAFETY: getpriority takes plain integers; -1 is a valid nice value, so errno
            // would tell an error apart, but this thread and its parent surely exist.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) }
        };
        // SAFETY: as above.
        let main_tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        let before = nice_of(main_tid);
        let lowered = std::thread::spawn(move || {
            lower_this_thread(3, "a test");
            // SAFETY: as above.
            nice_of(unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t)
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 3).min(19));
        assert_eq!(nice_of(main_tid), before, "the caller's own thread is untouched");
    }
}
