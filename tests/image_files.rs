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
        assert_eq!(config.clock.mode, stratum1::config::ClockMode::Kernel, "the appliance steers the clock");
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
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing");
    }
}

/// A throwaway root for `image/rpi/firstboot` (it prefixes every path with STRATUM1_ROOT),
/// as the image build lays it out, with `setup` as the boot partition's stratum1-setup.txt.
fn firstboot_root(setup: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &str| root.path().join(p);
    for dir in
        ["boot/firmware", "etc/stratum1", "etc/default", "etc/systemd/network", "usr/share/stratum1/hats"]
    {
        std::fs::create_dir_all(at(dir)).unwrap();
    }
    let boot = "enable_uart=1\ndtoverlay=stratum1-uart\ndtoverlay=stratum1-pps-gpio4\n";
    std::fs::write(at("boot/firmware/config.txt"), format!("arm_64bit=1\n{boot}")).unwrap();
    std::fs::write(at("etc/default/raspi-firmware-custom"), boot).unwrap();
    std::fs::write(at("boot/firmware/stratum1-setup.txt"), setup).unwrap();
    std::fs::write(at("etc/hostname"), "stratum1\n").unwrap();
    std::fs::write(at("etc/hosts"), "127.0.0.1 localhost\n127.0.1.1 stratum1\n").unwrap();
    std::fs::write(at("usr/share/stratum1/stratum1.toml"), read("image/common/stratum1.toml")).unwrap();
    for hat in ["adafruit-ultimate-gps", "uputronics-ublox"] {
        let preset = read(&format!("image/common/hats/{hat}.toml"));
        std::fs::write(at(&format!("usr/share/stratum1/hats/{hat}.toml")), preset).unwrap();
    }
    root
}

fn firstboot(root: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("image/rpi/firstboot");
    let out = std::process::Command::new("sh").arg(script).env("STRATUM1_ROOT", root).output().unwrap();
    assert!(out.status.success(), "firstboot failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn first_boot_applies_the_setup_file_and_removes_the_passphrase() {
    if std::process::Command::new("wpa_passphrase").arg("x").arg("12345678").output().is_err() {
        panic!("wpa_passphrase (package wpasupplicant) is needed; scripts/test installs it");
    }
    let setup = read("image/rpi/stratum1-setup.txt").replace("@HAT@", "uputronics-ublox").replace(
        "# wifi-ssid = MyNetwork\n# wifi-passphrase = my secret passphrase\n# wifi-country = GB\n",
        "wifi-ssid = Lab Net\nwifi-passphrase = correct horse battery staple\nwifi-country = GB\n",
    ) + "hostname = pi-clock\naddress = 192.168.7.10/24\ngateway = 192.168.7.1\ndns = 192.168.7.1, 9.9.9.9\n\
           ssh-key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO1 me@laptop\nssh-key = not a key\n";
    let root = firstboot_root(&setup);
    let at = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap_or_default();
    let log = firstboot(root.path());

    // The HAT: its preset, and the pin's overlay now and after kernel updates.
    assert!(at("etc/stratum1/stratum1.toml").contains("baud = 115200"), "{log}");
    assert!(at("boot/firmware/config.txt").contains("dtoverlay=stratum1-pps-gpio18\n"));
    assert!(!at("boot/firmware/config.txt").contains("gpio4"));
    assert!(at("etc/default/raspi-firmware-custom").contains("dtoverlay=stratum1-pps-gpio18\n"));
    // The name, everywhere the system reads it.
    assert_eq!(at("etc/hostname"), "pi-clock\n");
    assert!(at("etc/hosts").contains("127.0.1.1 pi-clock\n"));
    // Wi-Fi: wpa_supplicant's derived key only, readable by root alone.
    let wifi_path = root.path().join("etc/wpa_supplicant/wpa_supplicant-wlan0.conf");
    let wifi = at("etc/wpa_supplicant/wpa_supplicant-wlan0.conf");
    assert!(wifi.contains("country=GB") && wifi.contains("ssid=\"Lab Net\""), "{wifi}");
    assert!(wifi.lines().any(|l| l.trim().starts_with("psk=") && l.trim().len() == 4 + 64), "{wifi}");
    assert!(!wifi.contains("horse"), "the passphrase itself is not kept:\n{wifi}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(wifi_path).unwrap().permissions().mode() & 0o777, 0o600);
    // The static address, on Wi-Fi since it is set.
    let network = at("etc/systemd/network/40-stratum1-static.network");
    assert!(network.contains("Name=wl*") && network.contains("Address=192.168.7.10/24"), "{network}");
    assert!(network.contains("Gateway=192.168.7.1") && network.contains("DNS=9.9.9.9"), "{network}");
    // SSH: the one real key.
    assert_eq!(at("home/admin/.ssh/authorized_keys"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO1 me@laptop\n");
    // The passphrase is gone from the boot partition; the rest of the file stays.
    let left = at("boot/firmware/stratum1-setup.txt");
    assert!(!left.contains("horse") && left.contains("wifi-ssid = Lab Net"), "{left}");
    assert!(root.path().join("var/lib/stratum1-firstboot.done").exists());
}

#[test]
fn first_boot_reports_what_it_cannot_use_and_applies_the_rest() {
    let setup = "hat = no-such-hat\nhostname = Bad_Name\nwifi-ssid = Lab\nwifi-passphrase = short\n\
                 wifi-country = GB\naddress = 192.168.7.10\nssh-key = ssh-ed25519 AAAAkey me@laptop\n";
    let root = firstboot_root(setup);
    let at = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap_or_default();
    let log = firstboot(root.path());
    assert!(log.contains("unknown hat 'no-such-hat'") && log.contains("adafruit-ultimate-gps"), "{log}");
    assert!(log.contains("hostname 'Bad_Name' is not a host name"), "{log}");
    assert!(log.contains("Wi-Fi passphrase refused"), "{log}");
    assert!(log.contains("address '192.168.7.10' is not an address with its prefix length"), "{log}");
    assert_eq!(at("etc/hostname"), "stratum1\n");
    assert!(at("boot/firmware/config.txt").contains("dtoverlay=stratum1-pps-gpio4\n"));
    assert!(!root.path().join("etc/wpa_supplicant/wpa_supplicant-wlan0.conf").exists());
    assert!(!root.path().join("etc/systemd/network/40-stratum1-static.network").exists());
    assert!(at("home/admin/.ssh/authorized_keys").contains("me@laptop"), "the good setting still applies");
    // Even a refused passphrase leaves the boot partition.
    assert!(!at("boot/firmware/stratum1-setup.txt").contains("short"));
}
