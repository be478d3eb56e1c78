//! Why the overall state is what it is, in words, from the snapshot alone (pure): what an
//! operator reads under the banner, `stratum1ctl status` prints and `/api/status` carries as
//! `state_reason`. LOCKED needs no reason. The first cause that applies is named, most
//! specific first, with what to look at.

use crate::snapshot::{OverallState, StatusSnapshot};

pub fn state_reason(s: &StatusSnapshot) -> Option<String> {
    let distrusted = s.integrity.state == "gnss-disagrees";
    let disagreement =
        || s.integrity.disagreement_ns.map_or(String::new(), |d| format!(" by {:.6} s", d.abs() / 1e9));
    let receiver = || receiver_problem(s);
    match s.state {
        OverallState::Locked => None,
        OverallState::Holdover if distrusted => Some(format!(
            "holdover: the receiver disagrees with network time{}, so it is not followed",
            disagreement()
        )),
        OverallState::Holdover => Some(format!(
            "holdover: no usable reference sample for {}{}",
            s.clock.last_sample_age_s.map_or("a while".into(), |a| format!("{a:.0} s")),
            receiver().map_or(String::new(), |r| format!(" ({r})"))
        )),
        OverallState::Network => Some(format!(
            "serving network time (stratum {}, {}): {}",
            s.server.stratum,
            s.server.reference_id,
            if distrusted {
                format!("the receiver disagrees with it{}", disagreement())
            } else {
                receiver().unwrap_or_else(|| "the receiver is not locked".into())
            }
        )),
        OverallState::NoFix => Some(receiver().unwrap_or_else(|| "the receiver has no valid fix".into())),
        OverallState::Unsynchronised => Some(match (&s.gnss, s.sources.is_empty()) {
            (None, true) => {
                "no reference: no receiver ([refclock] kind) and no upstream ([[source]]) is configured"
                    .into()
            }
            (None, false) if !s.sources.iter().any(|v| v.reachable) => {
                "no reference: no receiver is configured and no upstream source answers".into()
            }
            (None, false) => "no reference yet: the upstream sources do not agree on the time".into(),
            (Some(_), _) => match receiver() {
                Some(problem) => problem,
                None if s.clock.lock_state == "acquiring" => format!(
                    "acquiring: {} reference sample(s) used so far; locked once the estimate settles",
                    s.clock.samples_used
                ),
                None if s.clock.lock_state == "unsynchronised" && s.clock.samples_used > 0 => {
                    "the holdover limit passed without a usable reference sample".into()
                }
                None => format!("the clock is {}", s.clock.lock_state),
            },
        }),
    }
}

/// What keeps the receiver from giving samples, if anything visible does.
fn receiver_problem(s: &StatusSnapshot) -> Option<String> {
    let g = s.gnss.as_ref()?;
    if g.serial.starts_with("down") {
        return Some(format!("the receiver's serial line is {}", g.serial));
    }
    if g.serial.starts_with("silent") || g.serial == "idle" {
        return Some(format!(
            "no NMEA from the receiver (serial {}): check the device, the baud rate and the wiring",
            g.serial
        ));
    }
    if !g.fix_valid {
        return Some(format!(
            "the receiver has no valid fix ({}, {} satellite(s) in view): the antenna needs sky",
            g.fix_mode, g.satellites_in_view
        ));
    }
    if let Some(refused) = &g.date_refused {
        return Some(refused.clone());
    }
    if let Some(pps) = g.pps.as_deref().filter(|p| p.starts_with("down") || p.starts_with("silent")) {
        return Some(format!("PPS is {pps}: check the PPS pin and its overlay"));
    }
    if let Some(warning) = &g.pairing_warning {
        return Some(warning.clone());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::example;

    #[test]
    fn locked_needs_no_reason() {
        assert_eq!(state_reason(&example()), None);
    }

    #[test]
    fn a_refused_receiver_date_is_the_cause_when_the_fix_is_valid() {
        let mut s = example();
        s.state = OverallState::Unsynchronised;
        if let Some(g) = s.gnss.as_mut() {
            g.date_refused = Some("receiver date 2007-04-15 is before 2026-11-01".into());
        }
        assert_eq!(state_reason(&s).as_deref(), Some("receiver date 2007-04-15 is before 2026-11-01"));
    }

    #[test]
    fn each_state_names_its_first_cause() {
        let mut s = example();
        s.state = OverallState::NoFix;
        if let Some(g) = s.gnss.as_mut() {
            g.fix_valid = false;
            g.fix_mode = "none".into();
            g.satellites_in_view = 2;
        }
        let r = state_reason(&s).unwrap();
        assert!(r.contains("no valid fix (none, 2 satellite(s) in view)"), "{r}");

        if let Some(g) = s.gnss.as_mut() {
            g.serial = "down (No such file or directory); retry in 1000 ms".into();
        }
        s.state = OverallState::Unsynchronised;
        assert!(state_reason(&s).unwrap().starts_with("the receiver's serial line is down (No such file"));

        s.gnss = None;
        s.sources.clear();
        assert!(state_reason(&s).unwrap().contains("no receiver ([refclock] kind) and no upstream"));

        let mut s = example();
        s.state = OverallState::Holdover;
        s.integrity.state = "gnss-disagrees".into();
        s.integrity.disagreement_ns = Some(-1e9);
        let r = state_reason(&s).unwrap();
        assert_eq!(
            r,
            "holdover: the receiver disagrees with network time by 1.000000 s, so it is not followed"
        );
    }
}
