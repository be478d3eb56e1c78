//! Ethernet frames in and out of the fast path (pure): finding the UDP datagram in a received
//! frame, and turning the frame around into the answer once the NTP payload is written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

const ETH_HEADER: usize = 14;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTOCOL_UDP: u8 = 17;
const REPLY_HOP_LIMIT: u8 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame too short for its headers")]
    Truncated,
    #[error("not an unfragmented UDP datagram over IPv4 or IPv6")]
    NotUdp,
    #[error("IP or UDP length disagrees with the frame")]
    BadLength,
    #[error("IPv4 header checksum is wrong")]
    BadChecksum,
    #[error("source or destination is not a unicast address")]
    NotUnicast,
}

/// Where a received datagram's parts are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub client: SocketAddr,
    /// The address the client sent to: the answer's source.
    pub server: SocketAddr,
    pub payload: Range<usize>,
}

fn be16(frame: &[u8], at: usize) -> Result<u16, FrameError> {
    frame.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or(FrameError::Truncated)
}

fn bytes<const N: usize>(frame: &[u8], at: usize) -> Result<[u8; N], FrameError> {
    frame.get(at..at + N).and_then(|b| b.try_into().ok()).ok_or(FrameError::Truncated)
}

pub fn parse(frame: &[u8]) -> Result<Datagram, FrameError> {
    match be16(frame, 12)? {
        ETHERTYPE_IPV4 => parse_ipv4(frame),
        ETHERTYPE_IPV6 => parse_ipv6(frame),
        _ => Err(FrameError::NotUdp),
    }
}

fn parse_ipv4(frame: &[u8]) -> Result<Datagram, FrameError> {
    let ip = frame.get(ETH_HEADER..ETH_HEADER + IPV4_HEADER).ok_or(FrameError::Truncated)?;
    if ip[0] != 0x45 || ip[9] != PROTOCOL_UDP || u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return Err(FrameError::NotUdp);
    }
    if !verifies(0, ip) {
        return Err(FrameError::BadChecksum);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < IPV4_HEADER + UDP_HEADER || ETH_HEADER + total > frame.len() {
        return Err(FrameError::BadLength);
    }
    let source = Ipv4Addr::from(bytes::<4>(frame, ETH_HEADER + 12)?);
    let destination = Ipv4Addr::from(bytes::<4>(frame, ETH_HEADER + 16)?);
    let unicast = |a: Ipv4Addr| !(a.is_unspecified() || a.is_multicast() || a.is_broadcast());
    if !unicast(source) || !unicast(destination) {
        return Err(FrameError::NotUnicast);
    }
    udp(frame, ETH_HEADER + IPV4_HEADER, ETH_HEADER + total, source.into(), destination.into())
}

fn parse_ipv6(frame: &[u8]) -> Result<Datagram, FrameError> {
    let ip = frame.get(ETH_HEADER..ETH_HEADER + IPV6_HEADER).ok_or(FrameError::Truncated)?;
    if ip[0] >> 4 != 6 || ip[6] != PROTOCOL_UDP {
        return Err(FrameError::NotUdp);
    }
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if payload < UDP_HEADER || ETH_HEADER + IPV6_HEADER + payload > frame.len() {
        return Err(FrameError::BadLength);
    }
    let source = Ipv6Addr::from(bytes::<16>(frame, ETH_HEADER + 8)?);
    let destination = Ipv6Addr::from(bytes::<16>(frame, ETH_HEADER + 24)?);
    let unicast = |a: Ipv6Addr| !(a.is_unspecified() || a.is_multicast());
    if !unicast(source) || !unicast(destination) {
        return Err(FrameError::NotUnicast);
    }
    let start = ETH_HEADER + IPV6_HEADER;
    udp(frame, start, start + payload, source.into(), destination.into())
}

fn udp(
    frame: &[u8],
    start: usize,
    ip_end: usize,
    source: IpAddr,
    destination: IpAddr,
) -> Result<Datagram, FrameError> {
    let length = usize::from(be16(frame, start + 4)?);
    if length < UDP_HEADER || start + length > ip_end {
        return Err(FrameError::BadLength);
    }
    Ok(Datagram {
        client: SocketAddr::new(source, be16(frame, start)?),
        server: SocketAddr::new(destination, be16(frame, start + 2)?),
        payload: start + UDP_HEADER..start + length,
    })
}

/// Rewrites the headers of the received frame into those of the answer, whose `payload_len`
/// bytes are already in place at the payload's start, and returns the answer's frame length.
/// The answer goes back the way the request came: MAC, IP addresses and ports swapped.
pub fn turn_around(frame: &mut [u8], datagram: &Datagram, payload_len: usize) -> Result<usize, FrameError> {
    let udp_start = datagram.payload.start - UDP_HEADER;
    let end = datagram.payload.start + payload_len;
    if end > frame.len() || payload_len > datagram.payload.len() {
        return Err(FrameError::BadLength);
    }
    let udp_len = (UDP_HEADER + payload_len) as u16;
    let (destination_mac, source_mac) = frame[..12].split_at_mut(6);
    destination_mac.swap_with_slice(source_mac);
    let pseudo_sum = match (datagram.client.ip(), datagram.server.ip()) {
        (IpAddr::V4(client), IpAddr::V4(server)) => {
            let ip = &mut frame[ETH_HEADER..ETH_HEADER + IPV4_HEADER];
            let total = (IPV4_HEADER as u16) + udp_len;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[4..6].copy_from_slice(&[0, 0]);
            ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
            ip[8] = REPLY_HOP_LIMIT;
            ip[10..12].copy_from_slice(&[0, 0]);
            ip[12..16].copy_from_slice(&server.octets());
            ip[16..20].copy_from_slice(&client.octets());
            let header_sum = !checksum(0, ip);
            ip[10..12].copy_from_slice(&header_sum.to_be_bytes());
            let mut pseudo = [0u8; 12];
            pseudo[0..4].copy_from_slice(&server.octets());
            pseudo[4..8].copy_from_slice(&client.octets());
            pseudo[9] = PROTOCOL_UDP;
            pseudo[10..12].copy_from_slice(&udp_len.to_be_bytes());
            checksum(0, &pseudo)
        }
        (IpAddr::V6(client), IpAddr::V6(server)) => {
            let ip = &mut frame[ETH_HEADER..ETH_HEADER + IPV6_HEADER];
            ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
            ip[7] = REPLY_HOP_LIMIT;
            ip[8..24].copy_from_slice(&server.octets());
            ip[24..40].copy_from_slice(&client.octets());
            let mut pseudo = [0u8; 40];
            pseudo[0..16].copy_from_slice(&server.octets());
            pseudo[16..32].copy_from_slice(&client.octets());
            pseudo[32..36].copy_from_slice(&u32::from(udp_len).to_be_bytes());
            pseudo[39] = PROTOCOL_UDP;
            checksum(0, &pseudo)
        }
        _ => return Err(FrameError::NotUdp),
    };
    let udp = &mut frame[udp_start..end];
    udp[0..2].copy_from_slice(&datagram.server.port().to_be_bytes());
    udp[2..4].copy_from_slice(&datagram.client.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    let sum = !checksum(pseudo_sum, udp);
    // A computed 0 is sent as all ones: 0 means "no checksum" (and is not allowed in IPv6).
    let sum = if sum == 0 { 0xffff } else { sum };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    Ok(end)
}

/// The ones' complement sum (RFC 1071), folded to 16 bits, continuing from `initial`.
fn checksum(initial: u16, data: &[u8]) -> u16 {
    let mut sum = u32::from(initial);
    let mut pairs = data.chunks_exact(2);
    for pair in &mut pairs {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Whether data with its checksum field in place sums to all ones, as correct data does.
fn verifies(initial: u16, data: &[u8]) -> bool {
    checksum(initial, data) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn ipv4_frame(source: [u8; 4], destination: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&SERVER_MAC);
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let total = (IPV4_HEADER + UDP_HEADER + payload.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, PROTOCOL_UDP, 0, 0]);
        ip.extend_from_slice(&source);
        ip.extend_from_slice(&destination);
        let sum = !checksum(0, &ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&123u16.to_be_bytes());
        f.extend_from_slice(&((UDP_HEADER + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]); // no checksum, as IPv4 allows
        f.extend_from_slice(payload);
        f
    }

    fn ipv6_frame(source: Ipv6Addr, destination: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&SERVER_MAC);
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&((UDP_HEADER + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[PROTOCOL_UDP, 64]);
        f.extend_from_slice(&source.octets());
        f.extend_from_slice(&destination.octets());
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&123u16.to_be_bytes());
        f.extend_from_slice(&((UDP_HEADER + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0xde, 0xad]); // not checked on receive
        f.extend_from_slice(payload);
        f
    }

    /// The UDP checksum of a frame verifies against its IP pseudo-header.
    fn udp_checksum_verifies(frame: &[u8], d: &Datagram) -> bool {
        let udp = &frame[d.payload.start - UDP_HEADER..d.payload.end];
        let mut pseudo = Vec::new();
        match (d.client.ip(), d.server.ip()) {
            (IpAddr::V4(c), IpAddr::V4(s)) => {
                pseudo.extend_from_slice(&c.octets());
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&[0, PROTOCOL_UDP]);
                pseudo.extend_from_slice(&(udp.len() as u16).to_be_bytes());
            }
            (IpAddr::V6(c), IpAddr::V6(s)) => {
                pseudo.extend_from_slice(&c.octets());
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&(udp.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, PROTOCOL_UDP]);
            }
            _ => return false,
        }
        verifies(checksum(0, &pseudo), udp)
    }

    #[test]
    fn checksum_matches_a_published_ipv4_header() {
        // 192.168.0.1 -> 192.168.0.199, total length 0x73: the well-known example whose
        // header checksum is 0xb861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(!checksum(0, &header), 0xb861);
        let mut filled = header;
        filled[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verifies(0, &filled));
        assert_eq!(checksum(0, &[0xff]), 0xff00, "an odd byte counts as the high half");
    }

    #[test]
    fn finds_the_datagram_in_an_ipv4_frame() {
        let frame = ipv4_frame([192, 0, 2, 7], [192, 0, 2, 1], &[0xe3; 48]);
        let d = parse(&frame).unwrap();
        assert_eq!(d.client, "192.0.2.7:40000".parse().unwrap());
        assert_eq!(d.server, "192.0.2.1:123".parse().unwrap());
        assert_eq!(d.payload, 42..90);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut frame = ipv4_frame([192, 0, 2, 7], [192, 0, 2, 1], &[0xe3; 4]);
        frame.resize(60, 0); // a short frame padded to the Ethernet minimum
        assert_eq!(parse(&frame).unwrap().payload, 42..46);
    }

    #[test]
    fn turns_an_ipv4_frame_around_with_valid_checksums() {
        let mut frame = ipv4_frame([192, 0, 2, 7], [192, 0, 2, 1], &[0x23; 68]);
        let d = parse(&frame).unwrap();
        frame[d.payload.start..d.payload.start + 48].fill(0x24);
        let len = turn_around(&mut frame, &d, 48).unwrap();
        assert_eq!(len, 14 + 20 + 8 + 48, "the answer is shorter than the request");
        frame.truncate(len);
        assert_eq!(&frame[0..6], &CLIENT_MAC);
        assert_eq!(&frame[6..12], &SERVER_MAC);
        let answer = parse(&frame).expect("the answer is itself a valid frame");
        assert_eq!(answer.client, d.server, "seen from the answer, the server is the source");
        assert_eq!(answer.server, d.client);
        assert_eq!(answer.payload.len(), 48);
        assert_eq!(frame[14 + 8], REPLY_HOP_LIMIT);
        assert!(udp_checksum_verifies(&frame, &answer));
    }

    #[test]
    fn turns_an_ipv6_frame_around_with_valid_checksums() {
        let client: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let server: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut frame = ipv6_frame(client, server, &[0x23; 48]);
        let d = parse(&frame).unwrap();
        assert_eq!(d.client, SocketAddr::new(client.into(), 40000));
        let len = turn_around(&mut frame, &d, 48).unwrap();
        assert_eq!(len, frame.len());
        let answer = parse(&frame).unwrap();
        assert_eq!(answer.client, d.server);
        assert_eq!(answer.server, d.client);
        assert!(udp_checksum_verifies(&frame, &answer));
    }

    #[test]
    fn refuses_what_the_fast_path_must_not_answer() {
        let good = ipv4_frame([192, 0, 2, 7], [192, 0, 2, 1], &[0; 48]);
        let mut fragment = good.clone();
        fragment[14 + 6] |= 0x20; // more fragments
        assert_eq!(parse(&fragment), Err(FrameError::NotUdp));
        let mut corrupt = good.clone();
        corrupt[14 + 12] ^= 1;
        assert_eq!(parse(&corrupt), Err(FrameError::BadChecksum));
        let broadcast = ipv4_frame([192, 0, 2, 7], [255, 255, 255, 255], &[0; 48]);
        assert_eq!(parse(&broadcast), Err(FrameError::NotUnicast));
        let multicast = ipv6_frame("2001:db8::7".parse().unwrap(), "ff02::101".parse().unwrap(), &[0; 48]);
        assert_eq!(parse(&multicast), Err(FrameError::NotUnicast));
        let mut overlong = good.clone();
        overlong[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(parse(&overlong), Err(FrameError::BadLength));
        let mut arp = good;
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(parse(&arp), Err(FrameError::NotUdp));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let v4 = ipv4_frame([192, 0, 2, 7], [192, 0, 2, 1], &[0; 48]);
        let v6 = ipv6_frame("2001:db8::7".parse().unwrap(), "2001:db8::1".parse().unwrap(), &[0; 48]);
        for frame in [v4, v6] {
            for len in 0..frame.len() {
                assert!(parse(&frame[..len]).is_err(), "{len} bytes parsed");
            }
        }
    }

    #[test]
    fn an_answer_longer_than_the_request_is_refused() {
        let mut frame = ipv4_frame([192, 0, 2, 7], [192, 0, 2, 1], &[0; 48]);
        let d = parse(&frame).unwrap();
        assert_eq!(turn_around(&mut frame, &d, 49), Err(FrameError::BadLength));
    }
}
