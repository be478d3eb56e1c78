//! The kernel clock shell: `clock_adjtime(CLOCK_REALTIME)` for steps, frequency, error
//! estimates, the synchronised flag, leap seconds and the TAI offset.
//!
//! Only `mode = "kernel"` uses it, on the appliance. Tests build the `timex` requests (pure
//! functions below) but never make the call: nothing in the test suite steers the host clock.

use std::io;

use stratum1_core::clock::Leap;
use stratum1_core::clock::Steering;

/// The kernel's frequency limit, ppb.
const MAX_FREQUENCY_PPB: f64 = 500_000.0;

/// The kernel's view of our state, written once a second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelStatus {
    pub synchronised: bool,
    pub error_bound_ns: f64,
    pub offset_sd_ns: f64,
    pub leap: Option<Leap>,
    pub tai_offset: Option<i32>,
}

fn zeroed_timex() -> libc::timex {
    // SAFETY: timex is a plain C struct of integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// The request that steps the clock by `step_ns` (ADJ_SETOFFSET, nanosecond resolution).
#[allow(clippy::unnecessary_cast)] // time_t is i64 here, i32 on armhf
pub fn step_request(step_ns: f64) -> libc::timex {
    let mut tx = zeroed_timex();
    let step = step_ns.round() as i64;
    tx.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
    // time_t and suseconds_t are 32 bits on armhf.
    tx.time.tv_sec = step.div_euclid(1_000_000_000) as libc::time_t;
    tx.time.tv_usec = step.rem_euclid(1_000_000_000) as libc::suseconds_t;
    tx
}

/// The request that sets the frequency (ppm with 16 fractional bits) and turns the kernel's own
/// PLL/FLL off, so that only we steer.
pub fn frequency_request(frequency_ppb: f64) -> libc::timex {
    let mut tx = zeroed_timex();
    let ppb = frequency_ppb.clamp(-MAX_FREQUENCY_PPB, MAX_FREQUENCY_PPB);
    tx.modes = libc::ADJ_FREQUENCY;
    tx.freq = (ppb / 1_000.0 * 65_536.0).round() as libc::c_long;
    tx
}

/// The request that reports our state: maximum and estimated error (µs), STA_UNSYNC, the leap
/// flags for tonight, and the TAI offset when known.
pub fn status_request(status: &KernelStatus) -> libc::timex {
    let mut tx = zeroed_timex();
    tx.modes = libc::ADJ_MAXERROR | libc::ADJ_ESTERROR | libc::ADJ_STATUS;
    let micros = |ns: f64| {
        if ns.is_finite() {
            (ns / 1_000.0).ceil().clamp(0.0, 16e6) as libc::c_long
        } else {
            16_000_000
        }
    };
    tx.maxerror = micros(status.error_bound_ns);
    tx.esterror = micros(status.offset_sd_ns);
    tx.status = if status.synchronised { 0 } else { libc::STA_UNSYNC };
    match status.leap {
        Some(Leap::Insert) if status.synchronised => tx.status |= libc::STA_INS,
        Some(Leap::Delete) if status.synchronised => tx.status |= libc::STA_DEL,
        _ => {}
    }
    if let Some(tai) = status.tai_offset {
        tx.modes |= libc::ADJ_TAI;
        tx.constant = libc::c_long::from(tai);
    }
    tx
}

fn adjust(mut tx: libc::timex) -> io::Result<()> {
    // SAFETY: tx is a valid, initialised timex that lives across the call.
    let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &mut tx) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Applies the discipline's steering to the host clock. Needs CAP_SYS_TIME.
pub fn apply(steering: Steering) -> io::Result<()> {
    if steering.step_ns != 0.0 {
        adjust(step_request(steering.step_ns))?;
    }
    adjust(frequency_request(steering.frequency_ppb))
}

pub fn report(status: &KernelStatus) -> io::Result<()> {
    adjust(status_request(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_split_into_seconds_and_nanoseconds() {
        let tx = step_request(-1_500_000_000.0);
        assert_eq!(tx.modes, libc::ADJ_SETOFFSET | libc::ADJ_NANO);
        // The kernel wants a normalised timeval: -2 s + 0.5 s.
        assert_eq!((tx.time.tv_sec, tx.time.tv_usec), (-2, 500_000_000));
    }

    #[test]
    fn frequency_is_scaled_ppm_and_clamped() {
        assert_eq!(frequency_request(1_000.0).freq, 65_536);
        assert_eq!(frequency_request(-50_000.0).freq, -50 * 65_536);
        assert_eq!(frequency_request(9e9).freq, 500 * 65_536);
    }

    #[test]
    fn status_carries_errors_sync_and_leap() {
        let locked = KernelStatus {
            synchronised: true,
            error_bound_ns: 2_500.0,
            offset_sd_ns: 200.0,
            leap: Some(Leap::Insert),
            tai_offset: Some(37),
        };
        let tx = status_request(&locked);
        assert_eq!((tx.maxerror, tx.esterror, tx.status), (3, 1, libc::STA_INS));
        assert_eq!((tx.modes & libc::ADJ_TAI, tx.constant), (libc::ADJ_TAI, 37));
        let lost = KernelStatus { synchronised: false, error_bound_ns: f64::INFINITY, ..locked };
        let tx = status_request(&lost);
        assert_eq!(tx.status, libc::STA_UNSYNC, "no leap flag when not synchronised");
        assert_eq!(tx.maxerror, 16_000_000);
    }
}
