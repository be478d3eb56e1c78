//! Across sources (pure): falsetickers rejected by the intersection of the sources' intervals
//! (RFC 5905 §11.2.1, Marzullo's algorithm as NTP uses it), and the survivors combined into one
//! network estimate with a bound.
//!
//! Each source says the true offset lies in `offset ± root_distance`. The largest interval
//! that a majority of sources contain is where the truth is, as long as fewer than half lie;
//! a source whose interval misses it is a falseticker. The combined offset is the survivors'
//! mean weighted by 1/distance², and its bound reaches to both ends of the intersection, so
//! the truth stays inside it whichever survivor is right.

/// One source as selection sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Our clock minus the source's, ns.
    pub offset_ns: f64,
    pub root_distance_ns: f64,
    pub stratum: u8,
    pub root_delay_ns: f64,
    pub root_dispersion_ns: f64,
    /// When its offset was measured, on our clock.
    pub at: i64,
}

/// What the network says about our clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkEstimate {
    /// Our clock minus network time, ns.
    pub offset_ns: f64,
    /// The true offset is within `offset_ns ± bound_ns` unless a majority of sources lie.
    pub bound_ns: f64,
    /// Index (into the candidates) of the survivor with the smallest root distance: the one
    /// whose stratum, root delay and identity a fallback server inherits.
    pub best: usize,
    pub best_stratum: u8,
    pub root_delay_ns: f64,
    pub root_dispersion_ns: f64,
    pub survivors: usize,
    /// When the newest survivor's offset was measured, on our clock.
    pub at: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub estimate: Option<NetworkEstimate>,
    /// Per candidate: survived the intersection.
    pub selected: Vec<bool>,
}

/// Selects among `candidates` (the usable, trusted sources).
pub fn select(candidates: &[Candidate]) -> Selection {
    let n = candidates.len();
    let mut selection = Selection { estimate: None, selected: vec![false; n] };
    let Some((low, high)) = intersection(candidates) else { return selection };
    for (i, c) in candidates.iter().enumerate() {
        selection.selected[i] =
            c.offset_ns + c.root_distance_ns >= low && c.offset_ns - c.root_distance_ns <= high;
    }
    let survivors: Vec<(usize, &Candidate)> =
        candidates.iter().enumerate().filter(|(i, _)| selection.selected[*i]).collect();
    let weight = |c: &Candidate| 1.0 / c.root_distance_ns.max(1.0).powi(2);
    let total: f64 = survivors.iter().map(|(_, c)| weight(c)).sum();
    let Some(&(best, best_candidate)) =
        survivors.iter().min_by(|a, b| a.1.root_distance_ns.total_cmp(&b.1.root_distance_ns))
    else {
        return selection;
    };
    if total <= 0.0 {
        return selection;
    }
    let offset_ns = survivors.iter().map(|(_, c)| weight(c) * c.offset_ns).sum::<f64>() / total;
    // The intersection holds the truth; so must the bound. A single source's own interval is
    // its intersection.
    let bound_ns = (offset_ns - low).max(high - offset_ns).max(0.0);
    selection.estimate = Some(NetworkEstimate {
        offset_ns,
        bound_ns,
        best,
        best_stratum: best_candidate.stratum,
        root_delay_ns: best_candidate.root_delay_ns,
        root_dispersion_ns: best_candidate.root_dispersion_ns + (offset_ns - best_candidate.offset_ns).abs(),
        survivors: survivors.len(),
        at: survivors.iter().map(|(_, c)| c.at).max().unwrap_or(best_candidate.at),
    });
    selection
}

/// The interval that the most sources (more than half) agree on: RFC 5905 §11.2.1's
/// intersection. Allowing `f` falsetickers in turn from none up, the first `f` for which
/// `n - f` intervals share a point gives the answer, from the lowest such point to the highest.
///
/// RFC 5905 also counts the midpoints that fall outside and asks for no more than `f`. That
/// rule is left out, as chrony leaves it out: a wide interval around a narrow one has its
/// midpoint outside the narrow one, and with two sources the rule then rejects both although
/// both contain the truth (seen with a LAN source beside one behind a slow path).
fn intersection(candidates: &[Candidate]) -> Option<(f64, f64)> {
    // Opening edges sort before closing ones at the same value: intervals are closed.
    let mut edges: Vec<(f64, i32)> = Vec::with_capacity(2 * candidates.len());
    for c in candidates {
        if !(c.offset_ns.is_finite() && c.root_distance_ns.is_finite()) {
            continue;
        }
        edges.push((c.offset_ns - c.root_distance_ns, 1));
        edges.push((c.offset_ns + c.root_distance_ns, -1));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let n = edges.len() / 2;
    let mut f = 0;
    while 2 * f < n {
        let need = (n - f) as i32;
        let low = first_covered_by(need, edges.iter(), 1);
        let high = first_covered_by(need, edges.iter().rev(), -1);
        if let (Some(low), Some(high)) = (low, high) {
            if low <= high {
                return Some((low, high));
            }
        }
        f += 1;
    }
    None
}

/// Walking `edges` in order, the first value where `need` intervals are open at once
/// (`opening` is the kind of edge that opens one in this direction).
fn first_covered_by<'a>(need: i32, edges: impl Iterator<Item = &'a (f64, i32)>, opening: i32) -> Option<f64> {
    let mut open = 0;
    for &(value, kind) in edges {
        open += if kind == opening { 1 } else { -1 };
        if open >= need {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(offset_ns: f64, root_distance_ns: f64) -> Candidate {
        Candidate {
            offset_ns,
            root_distance_ns,
            stratum: 1,
            root_delay_ns: 0.0,
            root_dispersion_ns: 0.0,
            at: 0,
        }
    }

    #[test]
    fn one_source_is_its_own_interval() {
        let s = select(&[source(1_000.0, 500.0)]);
        let e = s.estimate.unwrap();
        assert!((e.offset_ns - 1_000.0).abs() < 1e-9);
        assert!((e.bound_ns - 500.0).abs() < 1e-9);
        assert_eq!(s.selected, vec![true]);
    }

    #[test]
    fn a_falseticker_among_three_is_rejected() {
        let s = select(&[source(0.0, 1e6), source(50e6, 1e6), source(300e3, 1e6)]);
        assert_eq!(s.selected, vec![true, false, true]);
        let e = s.estimate.unwrap();
        assert!(e.offset_ns.abs() < 400e3, "the liar pulls nothing: {}", e.offset_ns);
        assert!(e.offset_ns - e.bound_ns <= 0.0 && e.offset_ns + e.bound_ns >= 300e3 - 1e6);
        assert_eq!(e.survivors, 2);
    }

    #[test]
    fn two_that_disagree_give_no_estimate() {
        // Neither has a majority: the truth cannot be told.
        let s = select(&[source(0.0, 1e6), source(50e6, 1e6)]);
        assert_eq!(s.estimate, None);
        assert_eq!(s.selected, vec![false, false]);
    }

    #[test]
    fn a_wide_interval_around_a_narrow_one_leaves_both_selected() {
        // Seen on loopback: a source behind a slow relay (5.335 ± 1.45 ms) beside a direct one
        // (5.04 ± 0.13 ms). The wide one's midpoint lies outside the narrow one; both hold the
        // truth, so both survive, and the estimate keeps to the narrow one's interval.
        let s = select(&[source(5.04e6, 0.13e6), source(5.335e6, 1.45e6)]);
        assert_eq!(s.selected, vec![true, true]);
        let e = s.estimate.unwrap();
        assert!(e.offset_ns - e.bound_ns <= 4.91e6 && e.offset_ns + e.bound_ns >= 5.17e6, "{e:?}");
        assert!(e.bound_ns < 0.14e6, "the narrow interval decides: {e:?}");
    }

    #[test]
    fn touching_intervals_share_their_edge() {
        let s = select(&[source(0.0, 1_000.0), source(2_000.0, 1_000.0)]);
        let e = s.estimate.unwrap();
        assert!((e.offset_ns - 1_000.0).abs() < 1e-6 && e.bound_ns.abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn the_bound_covers_every_survivors_interval_overlap() {
        let s = select(&[source(-400.0, 1_000.0), source(400.0, 1_000.0), source(0.0, 5_000.0)]);
        let e = s.estimate.unwrap();
        // The intersection is [-600, 600]; the truth may be anywhere in it.
        assert!(e.offset_ns - e.bound_ns <= -600.0 + 1e-6);
        assert!(e.offset_ns + e.bound_ns >= 600.0 - 1e-6);
        assert_eq!(s.selected, vec![true, true, true]);
        assert_eq!(e.best, 0, "the smallest distance wins the tie");
    }

    #[test]
    fn nothing_to_select_from() {
        assert_eq!(select(&[]), Selection::default());
        let s = select(&[source(f64::NAN, 1.0)]);
        assert_eq!(s.estimate, None);
    }
}
