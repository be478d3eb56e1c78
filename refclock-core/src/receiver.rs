//! One GNSS receiver: NMEA bytes (or gpsd's JSON) and PPS edges in, samples and a status out
//! (pure).
//!
//! The shells (serial, kernel PPS, GPIO, simulator) only timestamp and forward; everything an
//! operator sees about the receiver is computed here, from their inputs alone.

use crate::gpsd::{GpsdEvent, GpsdStream};
use crate::link::LinkStatus;
use crate::nmea::{DateWindow, Epoch, NmeaCounts, NmeaEvent, NmeaStream};
use crate::pairing::{LabelTimingMisfit, LocalNanos, Pairing, PairingConfig, PairingCounts};
use crate::Sample;

/// What the receiver looks like right now.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverStatus {
    pub serial: LinkStatus,
    /// `None` when no PPS source is configured (NMEA-only).
    pub pps: Option<LinkStatus>,
    pub last_epoch: Option<Epoch>,
    pub locked: bool,
    pub last_sample: Option<Sample>,
    pub nmea: NmeaCounts,
    pub pairing: PairingCounts,
    /// Set while the labels arrive where the configured delay does not expect them.
    pub label_timing: Option<LabelTimingMisfit>,
    /// The NMEA delay the pairing uses, ms: the configured one, or one measured by network time.
    pub nmea_delay_ms: i64,
    pub edges: u64,
}

pub struct Receiver {
    stream: NmeaStream,
    /// Set when the bytes are gpsd's JSON rather than NMEA (`refclock.kind = "gpsd"`).
    gpsd: Option<GpsdStream>,
    pairing: Pairing,
    status: ReceiverStatus,
}

impl Receiver {
    pub fn new(window: DateWindow, pairing: PairingConfig, with_pps: bool) -> Receiver {
        let pairing = if with_pps { Pairing::with_pps(pairing) } else { Pairing::nmea_only(pairing) };
        let nmea_delay_ms = pairing.nmea_delay_ms();
        Receiver {
            stream: NmeaStream::new(window),
            gpsd: None,
            pairing,
            status: ReceiverStatus {
                serial: LinkStatus::Idle,
                pps: with_pps.then_some(LinkStatus::Idle),
                last_epoch: None,
                locked: false,
                last_sample: None,
                nmea: NmeaCounts::default(),
                pairing: PairingCounts::default(),
                label_timing: None,
                nmea_delay_ms,
                edges: 0,
            },
        }
    }

    /// A receiver read through gpsd: its bytes are gpsd's JSON, its edges come in gpsd's PPS
    /// reports, and NMEA labels alone serve after `nmea_fallback_after_ns` when gpsd has none.
    pub fn through_gpsd(window: DateWindow, pairing: PairingConfig) -> Receiver {
        Receiver { gpsd: Some(GpsdStream::new(window)), ..Receiver::new(window, pairing, true) }
    }

    /// Bytes read from the serial line (or the gpsd socket); `arrived` is when the read
    /// returned.
    pub fn on_bytes(&mut self, bytes: &[u8], arrived: LocalNanos, out: &mut Vec<Sample>) {
        if self.gpsd.is_some() {
            return self.on_gpsd_bytes(bytes, arrived, |edge| edge, out);
        }
        let Self { stream, pairing, status, .. } = self;
        stream.push(bytes, |event| match event {
            NmeaEvent::Label(label) => pairing.push_label(arrived, label.utc_second, out),
            NmeaEvent::Epoch(epoch) => status.last_epoch = Some(epoch),
        });
        self.refresh(out);
    }

    /// Bytes from the shell, NMEA or gpsd's JSON as the receiver was made for.
    pub fn on_gpsd_or_nmea_bytes(
        &mut self,
        bytes: &[u8],
        arrived: LocalNanos,
        to_local: impl Fn(LocalNanos) -> LocalNanos,
        out: &mut Vec<Sample>,
    ) {
        match self.gpsd {
            Some(_) => self.on_gpsd_bytes(bytes, arrived, to_local, out),
            None => self.on_bytes(bytes, arrived, out),
        }
    }

    /// gpsd's JSON; `to_local` turns the host-clock times in its PPS reports into the clock
    /// the edges are paired on (the simulated clock in the demo, minus `pps-offset-ns`).
    pub fn on_gpsd_bytes(
        &mut self,
        bytes: &[u8],
        arrived: LocalNanos,
        to_local: impl Fn(LocalNanos) -> LocalNanos,
        out: &mut Vec<Sample>,
    ) {
        let mut events = Vec::new();
        if let Some(gpsd) = self.gpsd.as_mut() {
            gpsd.push(bytes, |event| events.push(event));
        }
        for event in events {
            match event {
                GpsdEvent::Label(label) => self.pairing.push_label(arrived, label.utc_second, out),
                GpsdEvent::Epoch(epoch) => self.status.last_epoch = Some(epoch),
                GpsdEvent::Edge(edge) => self.on_edge(to_local(edge), out),
            }
        }
        self.refresh(out);
    }

    pub fn on_edge(&mut self, edge: LocalNanos, out: &mut Vec<Sample>) {
        self.status.edges += 1;
        // Sources without a device to open (the simulator) report themselves by their edges.
        if self.status.pps == Some(LinkStatus::Idle) {
            self.status.pps = Some(LinkStatus::Up { since: edge.div_euclid(1_000_000_000) });
        }
        self.pairing.push_edge(edge, out);
        self.refresh(out);
    }

    /// Time passes with no input; call about once a second.
    pub fn on_tick(&mut self, now: LocalNanos, out: &mut Vec<Sample>) {
        self.pairing.advance(now, out);
        self.refresh(out);
    }

    pub fn on_serial_status(&mut self, link: LinkStatus) {
        self.status.serial = link;
    }

    pub fn on_pps_status(&mut self, link: LinkStatus) {
        if self.status.pps.is_some() {
            self.status.pps = Some(link);
        }
    }

    /// What the network says of the local clock, for the pairing to decide the second by.
    pub fn set_network_time(&mut self, network: Option<crate::pairing::NetworkTime>) {
        self.pairing.set_network_time(network);
    }

    /// The latest pair the pairing refused since the last call: what the receiver claims.
    pub fn take_disputed(&mut self) -> Option<Sample> {
        self.pairing.take_disputed()
    }

    /// The local clock was stepped: pending edges and labels are on the old time scale.
    pub fn on_clock_step(&mut self) {
        self.pairing.reset();
        self.status.locked = false;
    }

    pub fn status(&self) -> &ReceiverStatus {
        &self.status
    }

    fn refresh(&mut self, out: &[Sample]) {
        if let Some(sample) = out.last() {
            self.status.last_sample = Some(*sample);
        }
        self.status.locked = self.pairing.locked();
        self.status.nmea = match &self.gpsd {
            // gpsd's counts in NMEA's terms: reports as sentences, broken ones as malformed.
            Some(gpsd) => {
                let c = gpsd.counts();
                let mut counts =
                    NmeaCounts { malformed: c.malformed, labels: c.labels, ..NmeaCounts::default() };
                counts.framing.sentences = c.reports;
                counts.framing.overlong = c.overlong;
                counts
            }
            None => self.stream.counts(),
        };
        self.status.pairing = self.pairing.counts();
        self.status.label_timing = self.pairing.label_timing();
        self.status.nmea_delay_ms = self.pairing.nmea_delay_ms();
    }
}
