//! The Yocto layer's crates list (`image/yocto/meta-stratum1/recipes-core/stratum1/
//! stratum1-crates.inc`) must match Cargo.lock: every registry crate at its locked version and
//! checksum, nothing else. Regenerate with `STRATUM1_UPDATE_CRATES_INC=1 cargo test --test
//! yocto_crates` after changing dependencies.

use std::path::Path;

const INC: &str = "image/yocto/meta-stratum1/recipes-core/stratum1/stratum1-crates.inc";

#[derive(serde::Deserialize)]
struct Lock {
    package: Vec<LockedPackage>,
}

#[derive(serde::Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// The .inc text for a Cargo.lock, in the layout of oe-core's `update_crates` task. The
/// registry host is left to `STRATUM1_CRATE_REGISTRY` (set in local.conf), so that no registry
/// host name is written here.
fn render(lock: &str) -> String {
    let lock: Lock = toml::from_str(lock).expect("Cargo.lock parses");
    let mut crates: Vec<&LockedPackage> = lock
        .package
        .iter()
        .filter(|p| p.source.as_deref().is_some_and(|s| s.starts_with("registry+")))
        .collect();
    crates.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    let mut out = String::from(
        "# Generated from Cargo.lock by tests/yocto_crates.rs: do not edit.\n\nSRC_URI += \" \\\n",
    );
    for p in &crates {
        out.push_str(&format!("    crate://${{STRATUM1_CRATE_REGISTRY}}/{}/{} \\\n", p.name, p.version));
    }
    out.push_str("\"\n\n");
    for p in &crates {
        let sum = p.checksum.as_deref().unwrap_or_default();
        out.push_str(&format!("SRC_URI[{}-{}.sha256sum] = \"{sum}\"\n", p.name, p.version));
    }
    out
}

#[test]
fn crates_inc_matches_cargo_lock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    let expected = render(&lock);
    let path = root.join(INC);
    if std::env::var_os("STRATUM1_UPDATE_CRATES_INC").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{INC} is out of date with Cargo.lock; run STRATUM1_UPDATE_CRATES_INC=1 cargo test --test yocto_crates"
    );
    assert!(expected.matches("crate://").count() > 100, "the registry crates are listed");
    assert!(
        !expected.contains("crate://${STRATUM1_CRATE_REGISTRY}/refclock/"),
        "path crates are not fetched"
    );
}
