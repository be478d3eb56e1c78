//! `stratum1ctl pi-setup` on a copy of Raspberry Pi OS's boot files in a temporary directory:
//! a diff without `--apply`, the files (and backups) written with it, nothing more the second
//! time, and a clear error for an unknown board.

use std::process::Command;

const CTL: &str = env!("CARGO_BIN_EXE_stratum1ctl");
const CONFIG: &str = "# http://rptl.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\n\n[all]\n";
const CMDLINE: &str = "console=serial0,115200 console=tty1 root=PARTUUID=1-02 rootfstype=ext4 rootwait\n";

fn pi_setup(dir: &std::path::Path, model: &str, extra: &[&str]) -> (bool, String, String) {
    let model_file = dir.join("model");
    std::fs::write(&model_file, format!("{model}\0")).unwrap();
    let out = Command::new(CTL)
        .args(["pi-setup", "--hat", "uputronics-ublox", "--boot"])
        .arg(dir)
        .arg("--model")
        .arg(&model_file)
        .args(extra)
        .output()
        .expect("run stratum1ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_boot_files_are_shown_then_written_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.txt"), CONFIG).unwrap();
    std::fs::write(dir.path().join("cmdline.txt"), CMDLINE).unwrap();
    let (ok, out, err) = pi_setup(dir.path(), "Raspberry Pi 4 Model B Rev 1.4", &[]);
    assert!(ok, "{err}");
    assert!(out.contains("+dtoverlay=disable-bt") && out.contains("+dtoverlay=pps-gpio,gpiopin=18"), "{out}");
    assert!(out.contains("-console=serial0,115200"), "{out}");
    assert!(out.contains("Nothing written") && out.contains("hciuart"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.txt")).unwrap(),
        CONFIG,
        "dry run writes nothing"
    );

    let (ok, out, err) = pi_setup(dir.path(), "Raspberry Pi 4 Model B Rev 1.4", &["--apply"]);
    assert!(ok, "{err}");
    assert!(out.contains("Reboot"), "{out}");
    let config = std::fs::read_to_string(dir.path().join("config.txt")).unwrap();
    assert!(
        config.contains("enable_uart=1\ndtoverlay=disable-bt\ndtoverlay=pps-gpio,gpiopin=18\n"),
        "{config}"
    );
    assert!(!std::fs::read_to_string(dir.path().join("cmdline.txt")).unwrap().contains("serial0"));
    assert_eq!(std::fs::read_to_string(dir.path().join("config.txt.stratum1-backup")).unwrap(), CONFIG);
    assert_eq!(std::fs::read_to_string(dir.path().join("cmdline.txt.stratum1-backup")).unwrap(), CMDLINE);

    let (ok, out, _) = pi_setup(dir.path(), "Raspberry Pi 4 Model B Rev 1.4", &["--apply"]);
    assert!(ok && out.contains("already set"), "{out}");
}

#[test]
fn a_pi5_and_an_unknown_board() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.txt"), CONFIG).unwrap();
    std::fs::write(dir.path().join("cmdline.txt"), CMDLINE).unwrap();
    let (ok, out, _) = pi_setup(dir.path(), "Raspberry Pi 5 Model B Rev 1.0", &[]);
    assert!(ok && out.contains("+dtparam=uart0=on") && !out.contains("disable-bt"), "{out}");
    let (ok, _, err) = pi_setup(dir.path(), "Raspberry Pi Model B Rev 2", &[]);
    assert!(!ok && err.contains("not a supported board"), "{err}");
}
