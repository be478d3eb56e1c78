//! `stratum1ctl pi-setup` (pure): what Raspberry Pi OS's boot files need for a GNSS HAT on a
//! given board, as new file contents and a diff. The binary reads the board model and the
//! files, prints the diff, and writes only with `--apply`.
//!
//! The HAT's NMEA comes in on GPIO 14/15 and its PPS on one GPIO:
//! - Pi 3, Zero 2 W, Pi 4, Pi 400 and CM4 wire their PL011 (`ttyAMA0`) to Bluetooth and put the
//!   mini UART, whose baud rate follows the core clock, on GPIO 14/15. `dtoverlay=disable-bt`
//!   moves the PL011 back to GPIO 14/15 (and Bluetooth goes; `hciuart` must then be disabled).
//! - Pi 5 (RP1) has a UART of its own on GPIO 14/15, `uart0`, off by default: `dtparam=uart0=on`
//!   makes it `ttyAMA0` (the console is `ttyAMA10`, on the debug connector). Bluetooth is
//!   elsewhere.
//! - The kernel console must not share the HAT's UART: `console=serial0,...` (and its
//!   `ttyAMA0`/`ttyS0` spellings) leave `cmdline.txt`.
//! - `dtoverlay=pps-gpio,gpiopin=N` binds `/dev/pps0` to the PPS pin (BCM numbering, which the
//!   overlay keeps on Pi 5 too).

use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// Pi 3 B/B+, Zero 2 W: BCM2837/RP3A0.
    Pi3,
    /// Pi 4 B, Pi 400, CM4: BCM2711.
    Pi4,
    /// Pi 5: BCM2712 with RP1.
    Pi5,
}

impl Board {
    /// The board from `/proc/device-tree/model` (for example "Raspberry Pi 4 Model B Rev 1.4").
    pub fn from_model(model: &str) -> Result<Board, String> {
        let model = model.trim_end_matches('\0').trim();
        let known = [
            ("Raspberry Pi 5", Board::Pi5),
            ("Raspberry Pi 4", Board::Pi4),
            ("Raspberry Pi 400", Board::Pi4),
            ("Raspberry Pi Compute Module 4", Board::Pi4),
            ("Raspberry Pi 3", Board::Pi3),
            ("Raspberry Pi Zero 2", Board::Pi3),
        ];
        // "Raspberry Pi 400" must not be taken for a Pi 4: the longest match wins.
        known
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, board)| *board)
            .ok_or_else(|| {
                format!("{model:?} is not a supported board (Pi 3, Zero 2 W, Pi 4, Pi 400, CM4, Pi 5)")
            })
    }

    /// The device the HAT's NMEA arrives on once the boot files are set.
    pub fn hat_tty(self) -> &'static str {
        "/dev/ttyAMA0"
    }
}

/// A HAT: its name for `--hat` and the GPIO its PPS is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hat {
    pub name: &'static str,
    pub pps_gpio: u8,
    pub baud: u32,
}

pub const HATS: [Hat; 2] = [
    Hat { name: "adafruit-ultimate-gps", pps_gpio: 4, baud: 9600 },
    Hat { name: "uputronics-ublox", pps_gpio: 18, baud: 115_200 },
];

pub fn hat(name: &str) -> Result<Hat, String> {
    HATS.iter().find(|h| h.name == name).copied().ok_or_else(|| {
        let names: Vec<&str> = HATS.iter().map(|h| h.name).collect();
        format!("unknown HAT {name:?}; known: {}", names.join(", "))
    })
}

/// The boot files as they should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub config_txt: String,
    pub cmdline_txt: String,
}

/// Lines this tool writes, and the keys whose other values it replaces.
fn wanted_lines(board: Board, hat: Hat) -> Vec<String> {
    let mut lines = vec!["enable_uart=1".to_owned()];
    match board {
        Board::Pi3 | Board::Pi4 => lines.push("dtoverlay=disable-bt".to_owned()),
        Board::Pi5 => lines.push("dtparam=uart0=on".to_owned()),
    }
    lines.push(format!("dtoverlay=pps-gpio,gpiopin={}", hat.pps_gpio));
    lines
}

/// Whether an existing config.txt line is one that this tool's lines replace.
fn superseded(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("enable_uart=")
        || line.starts_with("dtoverlay=pps-gpio")
        || line == "dtoverlay=miniuart-bt"
        || line.starts_with("dtparam=uart0=")
        || line == "dtparam=uart0"
        || line == "dtoverlay=disable-bt"
        || line == "dtoverlay=pi3-disable-bt"
}

const MARK: &str = "# stratum1: GNSS HAT on the primary UART and a PPS GPIO (stratum1ctl pi-setup)";

/// The new config.txt and cmdline.txt. Idempotent: planning from its own output changes
/// nothing. The lines go in an `[all]` section at the end, so no earlier `[pi4]`-style filter
/// applies to them.
pub fn plan(board: Board, hat: Hat, config_txt: &str, cmdline_txt: &str) -> Plan {
    let mut kept: Vec<&str> = config_txt.lines().filter(|l| !superseded(l) && l.trim() != MARK).collect();
    // Drop the `[all]` this tool wrote last time, if nothing follows it.
    while kept.last().is_some_and(|l| l.trim().is_empty() || l.trim() == "[all]") {
        kept.pop();
    }
    let mut config = kept.join("\n");
    if !config.is_empty() {
        config.push_str("\n\n");
    }
    config.push_str("[all]\n");
    config.push_str(MARK);
    config.push('\n');
    for line in wanted_lines(board, hat) {
        config.push_str(&line);
        config.push('\n');
    }
    let cmdline: Vec<&str> = cmdline_txt
        .split_whitespace()
        .filter(|token| {
            let Some(console) = token.strip_prefix("console=") else { return true };
            let device = console.split(',').next().unwrap_or_default();
            !matches!(device, "serial0" | "ttyAMA0" | "ttyS0")
        })
        .collect();
    Plan { config_txt: config, cmdline_txt: format!("{}\n", cmdline.join(" ")) }
}

/// A line diff of `before` and `after` (`-` removed, `+` added), for the operator to read.
pub fn diff(name: &str, before: &str, after: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    // Longest common subsequence, small files: O(n m) is fine.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+{}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "-{}", a[i]);
            i += 1;
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        format!("--- {name}\n+++ {name} (stratum1ctl pi-setup)\n{out}")
    }
}

/// What to check after the reboot.
pub fn after_reboot(board: Board, hat: Hat) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "After the reboot:");
    if matches!(board, Board::Pi3 | Board::Pi4) {
        let _ = writeln!(out, "  sudo systemctl disable --now hciuart   # Bluetooth no longer has a UART");
    }
    let _ = writeln!(out, "  sudo ppstest /dev/pps0                 # one line a second (package pps-tools)");
    let _ = writeln!(
        out,
        "  stty -F {} {}; head -5 {}   # NMEA sentences",
        board.hat_tty(),
        hat.baud,
        board.hat_tty()
    );
    let _ = writeln!(out, "  stratum1ctl gnss                       # fix, PPS, paired");
    let _ = writeln!(
        out,
        "In /etc/stratum1/stratum1.toml: [refclock] device = \"{}\", baud = {}, pps = \"kernel\"",
        board.hat_tty(),
        hat.baud
    );
    if board == Board::Pi5 {
        // RP1 sits behind PCIe: its GPIO interrupts are timestamped late (published figures;
        // docs/guide.md has them and where ASPM changes them).
        let _ = writeln!(
            out,
            "  and pps-offset-ns = 11700   # the Pi 5's PPS latency through RP1 (6200 with pcie_aspm=off)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PI_OS_CONFIG: &str = "# For more options and information see\n# http://rptl.io/configtxt\n\ndtparam=audio=on\ncamera_auto_detect=1\n\n[cm4]\notg_mode=1\n\n[all]\n";
    const PI_OS_CMDLINE: &str = "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n";

    #[test]
    fn boards_are_read_from_their_model_strings() {
        let cases = [
            ("Raspberry Pi 3 Model B Plus Rev 1.3", Board::Pi3),
            ("Raspberry Pi Zero 2 W Rev 1.0\0", Board::Pi3),
            ("Raspberry Pi 4 Model B Rev 1.4", Board::Pi4),
            ("Raspberry Pi 400 Rev 1.0", Board::Pi4),
            ("Raspberry Pi Compute Module 4 Rev 1.0", Board::Pi4),
            ("Raspberry Pi 5 Model B Rev 1.0", Board::Pi5),
        ];
        for (model, board) in cases {
            assert_eq!(Board::from_model(model), Ok(board), "{model}");
        }
        assert!(Board::from_model("Raspberry Pi Model B Rev 2")
            .unwrap_err()
            .contains("not a supported board"));
    }

    #[test]
    fn a_pi4_gets_the_pl011_back_and_the_console_off_it() {
        let p = plan(Board::Pi4, hat("adafruit-ultimate-gps").unwrap(), PI_OS_CONFIG, PI_OS_CMDLINE);
        let expected =
            format!("[all]\n{MARK}\nenable_uart=1\ndtoverlay=disable-bt\ndtoverlay=pps-gpio,gpiopin=4\n");
        assert!(p.config_txt.ends_with(&expected), "{}", p.config_txt);
        assert!(p.config_txt.contains("[cm4]\notg_mode=1"), "other settings stay");
        assert_eq!(
            p.cmdline_txt,
            "console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
        );
    }

    #[test]
    fn a_pi5_enables_its_own_uart_and_needs_no_bluetooth_change() {
        let p = plan(Board::Pi5, hat("uputronics-ublox").unwrap(), PI_OS_CONFIG, PI_OS_CMDLINE);
        assert!(p.config_txt.contains("dtparam=uart0=on\ndtoverlay=pps-gpio,gpiopin=18\n"));
        assert!(!p.config_txt.contains("disable-bt"));
        let hints = after_reboot(Board::Pi5, hat("uputronics-ublox").unwrap());
        assert!(!hints.contains("hciuart"));
        assert!(hints.contains("pps-offset-ns = 11700"), "{hints}");
        assert!(!after_reboot(Board::Pi4, hat("uputronics-ublox").unwrap()).contains("pps-offset-ns"));
    }

    #[test]
    fn planning_twice_changes_nothing_and_old_settings_are_replaced() {
        let old =
            format!("{PI_OS_CONFIG}enable_uart=0\ndtoverlay=pps-gpio,gpiopin=18\ndtoverlay=miniuart-bt\n");
        let adafruit = hat("adafruit-ultimate-gps").unwrap();
        let first = plan(Board::Pi3, adafruit, &old, PI_OS_CMDLINE);
        assert!(!first.config_txt.contains("enable_uart=0") && !first.config_txt.contains("gpiopin=18"));
        assert!(!first.config_txt.contains("miniuart-bt"));
        let second = plan(Board::Pi3, adafruit, &first.config_txt, &first.cmdline_txt);
        assert_eq!(second, first);
        assert_eq!(diff("config.txt", &first.config_txt, &second.config_txt), "");
    }

    #[test]
    fn the_diff_shows_what_is_removed_and_added() {
        let p = plan(Board::Pi4, hat("adafruit-ultimate-gps").unwrap(), PI_OS_CONFIG, PI_OS_CMDLINE);
        let d = diff("cmdline.txt", PI_OS_CMDLINE, &p.cmdline_txt);
        assert!(d.contains("-console=serial0,115200 console=tty1"), "{d}");
        assert!(d.contains("+console=tty1 root="), "{d}");
        let d = diff("config.txt", PI_OS_CONFIG, &p.config_txt);
        assert!(d.contains("+dtoverlay=pps-gpio,gpiopin=4"), "{d}");
        assert!(!d.contains("-dtparam=audio=on"), "unchanged lines are not shown: {d}");
        assert!(hat("garmin").unwrap_err().contains("adafruit-ultimate-gps"));
    }
}
