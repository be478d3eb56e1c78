//! The defaults docs/reference.md states are the code's: each key's documented default, written
//! into a file on its own, gives the same configuration as an empty file. The code (the
//! `default_*` functions and `Default` impls in src/config/) is the one definition; this test
//! keeps the table honest instead of a second copy.

use stratum1::config::Config;

const REFERENCE: &str = include_str!("../docs/reference.md");

/// (key, the default as a TOML value) for every row of the configuration table whose default is
/// a plain value; rows whose default is "unset", "none" or prose are left out.
fn documented_defaults() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let section =
        REFERENCE.split("\n## ").find(|s| s.starts_with("Configuration keys")).expect("the section");
    for line in section.lines() {
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(key_cell) = cells.first().and_then(|c| c.strip_prefix("| `")) else { continue };
        let keys: Vec<&str> = key_cell.split(" / ").map(|k| k.trim_matches('`')).collect();
        // `clock.simulator.*`: the defaults are listed in the meaning as `name = value` (a
        // dotted name there is another table's key, not one of these).
        if let Some(table) = keys[0].strip_suffix(".*") {
            let meaning = line.splitn(3, '|').nth(2).unwrap_or_default();
            for item in meaning.split('`').skip(1).step_by(2) {
                match item.split_once(" = ") {
                    Some((name, value)) if !name.contains('.') => {
                        out.push((format!("{table}.{name}"), value.to_owned()))
                    }
                    _ => {}
                }
            }
            continue;
        }
        if cells.len() < 3 {
            continue;
        }
        let values: Vec<&str> = cells[1].split(" / ").collect();
        if keys.len() != values.len() {
            continue;
        }
        // `integrity.disagree-after` / `agree-after`: the second key shares the first's table.
        let table = keys[0].rsplit_once('.').map_or("", |(t, _)| t);
        for (key, value) in keys.iter().zip(&values) {
            if !key.contains('.') && table.is_empty() {
                continue;
            }
            let key = if key.contains('.') { key.to_string() } else { format!("{table}.{key}") };
            if let Some(value) = toml_value(value) {
                out.push((key, value));
            }
        }
    }
    out
}

/// `8.0` -> `8.0`, `` `observe-only` `` -> `"observe-only"`, `0 (one per core)` -> `0`,
/// a backticked array as it is; anything else (unset, none, prose) -> None.
fn toml_value(cell: &str) -> Option<String> {
    let cell = cell.split(" (").next()?.trim();
    if let Some(inner) = cell.strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
        return Some(if inner.starts_with('[') { inner.to_owned() } else { format!("{inner:?}") });
    }
    (cell == "true" || cell == "false" || cell.parse::<f64>().is_ok()).then(|| cell.to_owned())
}

fn with_key(key: &str, value: &str) -> String {
    let (table, name) = key.rsplit_once('.').expect("a dotted key");
    format!("[{table}]\n{name} = {value}\n")
}

fn parsed(text: &str) -> String {
    match Config::from_toml(text, "test") {
        Ok(config) => format!("{config:?}"),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn every_documented_default_is_the_codes() {
    let empty = parsed("");
    assert!(!empty.starts_with("error"), "an empty file is valid: {empty}");
    let defaults = documented_defaults();
    assert!(defaults.len() >= 40, "found only {} documented defaults: {defaults:?}", defaults.len());
    let wrong: Vec<String> = defaults
        .iter()
        .filter(|(key, value)| parsed(&with_key(key, value)) != empty)
        .map(|(key, value)| format!("{key} = {value}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "docs/reference.md states defaults the code does not have:\n{}",
        wrong.join("\n")
    );
}

/// The comparison sees a changed value: a default documented wrongly would fail.
#[test]
fn a_wrong_default_is_seen() {
    let empty = parsed("");
    assert_ne!(parsed(&with_key("ntp.coalesce-us", "501")), empty);
    assert_ne!(parsed(&with_key("refclock.edge", "\"clear\"")), empty);
    assert_eq!(toml_value("0 (one per core)").as_deref(), Some("0"));
    assert_eq!(toml_value("`observe-only`").as_deref(), Some("\"observe-only\""));
    assert_eq!(toml_value("unset"), None);
    let simulator: Vec<String> = documented_defaults()
        .into_iter()
        .filter(|(key, _)| key.starts_with("refclock.simulator."))
        .map(|(key, value)| format!("{key} = {value}"))
        .collect();
    assert!(simulator.contains(&"refclock.simulator.pps-jitter-ns = 1000".to_owned()), "{simulator:?}");
}
