//! What the kernel says a process costs: CPU time on all its threads, and peak memory.

use std::fs;

/// Nanoseconds on CPU summed over every thread of `pid` (from /proc/PID/task/*/schedstat).
pub fn cpu_nanos(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    for entry in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let stat = fs::read_to_string(entry.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(total)
}

/// Peak resident memory in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Peak resident memory of `pid` and every process below it, in KiB: chrony's NTS-KE helper
/// is a child process, and its memory is the server's as much as the parent's.
pub fn peak_rss_tree_kib(pid: u32) -> u64 {
    let mut total = peak_rss_kib(pid).unwrap_or(0);
    for child in children(pid) {
        total += peak_rss_tree_kib(child);
    }
    total
}

fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let list = fs::read_to_string(entry.path().join("children")).unwrap_or_default();
        found.extend(list.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    found
}
