//! The man pages say what the programs take. Every configuration key the parser accepts is
//! documented in `stratum1.toml(5)` under its table, and the page documents no key the parser
//! refuses; every command and option `--help` lists is in `stratum1ctl(1)` and `stratum1d(8)`;
//! groff renders all three without a warning. The keys are learned from the parser itself:
//! each table refuses an unknown key by listing the ones it knows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::{CTL, DAEMON};
use stratum1::config::Config;

const UNKNOWN: &str = "zz-not-a-key";

fn man(page: &str) -> String {
    std::fs::read_to_string(format!("{}/docs/man/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The keys a table knows, from the error for an unknown one; `None` when `header` is not a
/// table at all.
fn known_keys(header: &str) -> Option<Vec<String>> {
    let text = format!("{header}\n{UNKNOWN} = 1\n");
    let error = Config::from_toml(&text, "probe").expect_err("an unknown key is refused").to_string();
    if !error.contains(&format!("unknown field `{UNKNOWN}`")) {
        return None;
    }
    let expected = error.split("expected").nth(1).unwrap_or("");
    Some(expected.split('`').skip(1).step_by(2).map(str::to_owned).collect())
}

/// Every table (`""` for the top level, `ntp.rate-limit`, `source` for `[[source]]`) and its keys.
fn config_tables() -> BTreeMap<String, BTreeSet<String>> {
    let mut tables = BTreeMap::new();
    let mut pending = vec![String::new()];
    while let Some(table) = pending.pop() {
        let header = match table.as_str() {
            "" => String::new(),
            "source" => "[[source]]".to_owned(),
            t => format!("[{t}]"),
        };
        let Some(keys) = known_keys(&header) else { continue };
        for key in &keys {
            let child = if table.is_empty() { key.clone() } else { format!("{table}.{key}") };
            let is_table = match child.as_str() {
                "source" => true,
                _ => known_keys(&format!("[{child}]")).is_some(),
            };
            if is_table {
                pending.push(child);
            }
        }
        tables.insert(table, keys.into_iter().collect());
    }
    tables
}

/// `.SS [table]` sections of the page and the `.B key` items (after `.TP`) in each.
fn documented_tables(page: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut after_tp = false;
    for line in page.lines() {
        if let Some(name) = line.strip_prefix(".SS ") {
            current = Some(name.trim_matches(|c| c == '[' || c == ']').to_owned());
            tables.entry(current.clone().unwrap_or_default()).or_default();
        } else if line.starts_with(".SH ") {
            current = None;
        } else if let (true, Some(key), Some(table)) = (after_tp, line.strip_prefix(".B "), &current) {
            tables.entry(table.clone()).or_default().insert(key.trim().to_owned());
        }
        after_tp = line == ".TP";
    }
    tables
}

#[test]
fn every_configuration_key_is_in_stratum1_toml_5_and_no_other() {
    let code = config_tables();
    assert!(code.len() >= 12 && code["ntp.rate-limit"].contains("max-rate"), "learned {code:?}");
    let page = documented_tables(&man("stratum1.toml.5"));
    let mut missing = Vec::new();
    for (table, keys) in &code {
        if table.is_empty() {
            // The top level holds only tables: each has its own section.
            for key in keys {
                if !page.contains_key(key) {
                    missing.push(format!("section [{key}]"));
                }
            }
            continue;
        }
        for key in keys {
            if !page.get(table).is_some_and(|k| k.contains(key)) {
                missing.push(format!("[{table}] {key}"));
            }
        }
    }
    assert!(missing.is_empty(), "in the code but not in docs/man/stratum1.toml.5: {missing:?}");
    let mut extra = Vec::new();
    for (table, keys) in &page {
        for key in keys {
            if !code.get(table).is_some_and(|k| k.contains(key)) {
                extra.push(format!("[{table}] {key}"));
            }
        }
    }
    assert!(extra.is_empty(), "documented but refused by the parser: {extra:?}");
}

/// The commands and `--options` of one `--help` text.
fn help_words(program: &str, args: &[&str]) -> (Vec<String>, Vec<String>) {
    let out = Command::new(program).args(args).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut commands = Vec::new();
    let mut in_commands = false;
    for line in text.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
        } else if !line.starts_with("  ") {
            in_commands = false;
        } else if in_commands {
            let name = line.split_whitespace().next().unwrap_or("");
            if name != "help" {
                commands.push(name.to_owned());
            }
        }
    }
    let options = text
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned())
        .filter(|w| w != "--help" && w != "--version" && w.len() > 2)
        .collect();
    (commands, options)
}

/// roff writes `-` in options as `\-`.
fn plain(page: &str) -> String {
    page.replace("\\-", "-")
}

#[test]
fn every_command_and_option_is_in_the_program_pages() {
    let ctl_page = plain(&man("stratum1ctl.1"));
    let (commands, mut options) = help_words(CTL, &[]);
    assert!(commands.contains(&"events".to_owned()), "{commands:?}");
    for command in &commands {
        assert!(
            ctl_page.contains(&format!(".B {command}\n")) || ctl_page.contains(&format!(".BI \"{command} ")),
            "stratum1ctl {command} is not an item of docs/man/stratum1ctl.1"
        );
    }
    for sub in [&["gnss", "decode"][..], &["gnss", "simulate"], &["pi-setup"]] {
        options.extend(help_words(CTL, sub).1);
    }
    for option in &options {
        assert!(ctl_page.contains(option.as_str()), "stratum1ctl {option} is not in docs/man/stratum1ctl.1");
    }
    let daemon_page = plain(&man("stratum1d.8"));
    let (_, options) = help_words(DAEMON, &[]);
    assert!(options.contains(&"--check-config".to_owned()), "{options:?}");
    for option in &options {
        assert!(daemon_page.contains(option.as_str()), "stratum1d {option} is not in docs/man/stratum1d.8");
    }
}

#[test]
fn groff_renders_the_pages_without_warnings() {
    common::require("groff");
    for page in ["stratum1d.8", "stratum1ctl.1", "stratum1.toml.5"] {
        let path = format!("{}/docs/man/{page}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("groff").args(["-man", "-ww", "-z", "-Tutf8", &path]).output().unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && warnings.trim().is_empty(), "{page}: {warnings}");
    }
}
