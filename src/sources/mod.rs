//! Upstream time sources, the shells: one poller thread per source ([`poller`]), the cookies
//! they keep across restarts ([`cookie_jar`]) and the certificate-time bootstrap
//! ([`cert_time`]). Measurements, filters and selection are pure, in `stratum1_core::sources`.

pub mod cert_time;
pub mod cookie_jar;
pub mod poller;
