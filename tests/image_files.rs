//! The files the Pi image and the Yocto layer install: the configuration with each HAT preset
//! is valid, and the service keeps to its user and its two capabilities.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn the_pi_configuration_is_valid_with_every_hat_preset() {
    let base = read("image/common/stratum1.toml");
    for hat in ["adafruit-ultimate-gps", "uputronics-ublox"] {
        let text = format!("{base}\n{}", read(&format!("image/common/hats/{hat}.toml")));
        let config = stratum1::config::Config::from_toml(&text, hat).unwrap_or_else(|e| panic!("{hat}: {e}"));
        assert_eq!(config.clock.mode, stratum1::clock::ClockMode::Kernel, "the appliance steers the clock");
        assert!(config.nts.enabled && config.web.enabled);
        assert!(config.ntp.listen.iter().all(|a| a.port() == 123));
        assert_eq!(config.refclock.kind, stratum1::config::RefclockKind::Nmea);
    }
    let adafruit = read("image/common/hats/adafruit-ultimate-gps.toml");
    assert!(adafruit.contains("baud = 9600") && adafruit.contains("gpiopin=4"));
    let uputronics = read("image/common/hats/uputronics-ublox.toml");
    assert!(uputronics.contains("baud = 115200") && uputronics.contains("gpiopin=18"));
}

#[test]
fn the_service_runs_as_its_user_with_only_two_capabilities() {
    let unit = read("image/common/stratum1d.service");
    for line in [
        "User=stratum1",
        "AmbientCapabilities=CAP_SYS_TIME CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_SYS_TIME CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ExecStart=/usr/bin/stratum1d --config /etc/stratum1/stratum1.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
}
