//! The layering the architecture promises (docs/design/architecture.md), checked on the source:
//!
//! - no crate's top-level modules import each other in a circle;
//! - the core crates (`stratum1-core`, `refclock-core`) forbid `unsafe`, depend only on the
//!   computation crates listed here, and neither open files or sockets, start threads nor read
//!   a clock outside their tests;
//! - the core crates' submodules are private behind their facades, except the ones listed here;
//! - `unsafe` in the shells stays in the files listed here, one per system interface;
//! - the web crate depends on no other crate of the workspace: it sees a snapshot only.
//!
//! The checks read text, not the compiler's view, so they are deliberately simple: comments and
//! `#[cfg(test)] mod tests` blocks are left out, and `crate::`/`super::` paths are the edges.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The workspace's crates: directory and the file that declares the top-level modules.
const CRATES: &[(&str, &str)] = &[
    ("stratum1", "src/lib.rs"),
    ("stratum1-core", "core/src/lib.rs"),
    ("refclock-core", "refclock-core/src/lib.rs"),
    ("refclock", "refclock/src/lib.rs"),
    ("stratum1-web", "web/src/lib.rs"),
    ("stratum1-bench", "bench/src/main.rs"),
];

/// The core crates and the only crates they may depend on: arithmetic, encodings, ciphers,
/// serde's derives, errors and the logging facade. A new entry is a design decision.
const CORES: &[(&str, &str, &[&str])] = &[
    (
        "stratum1-core",
        "core",
        &["aes", "chrono", "hkdf", "polyval", "refclock-core", "serde", "sha2", "thiserror", "tracing"],
    ),
    ("refclock-core", "refclock-core", &["chrono", "nmea", "serde_json", "thiserror"]),
];

/// What a core crate's production code must not name: files, sockets, threads, clocks.
const CORE_FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::thread",
    "std::process",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "UnixStream",
    "Instant::now",
    "SystemTime::now",
];

/// The shell files allowed to contain `unsafe`, each the one module of a system interface.
const UNSAFE_ALLOWED: &[&str] = &[
    "src/thread_priority.rs",
    "src/net.rs",
    "src/instance_lock.rs",
    "src/clock/kernel.rs",
    "src/ntp/udp_sys.rs",
    "src/ntp/xdp/mod.rs",
    "src/ntp/xdp/bpf_sys.rs",
    "src/ntp/xdp/xsk.rs",
    "refclock/src/gpio.rs",
    "refclock/src/sim/pty.rs",
    "web/src/server.rs",
    "bench/src/hostile.rs",
    "bench/src/load.rs",
];

#[test]
fn no_crate_has_a_cycle_among_its_top_level_modules() {
    let mut cycles = Vec::new();
    for (name, root_file) in CRATES {
        let root_file = Path::new(ROOT).join(root_file);
        let graph = module_graph(&root_file);
        assert!(
            graph.len() > 1,
            "{name}: found {} top-level modules in {}",
            graph.len(),
            root_file.display()
        );
        for cycle in cycles_in(&graph) {
            cycles.push(format!("{name}: {}", cycle.join(" <-> ")));
        }
    }
    assert!(cycles.is_empty(), "top-level modules importing each other in a circle:\n{}", cycles.join("\n"));
}

#[test]
fn the_core_crates_forbid_unsafe_and_do_no_io() {
    let mut problems = Vec::new();
    for (name, dir, allowed) in CORES {
        let dir = Path::new(ROOT).join(dir);
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        if !lib.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]") {
            problems.push(format!("{name}: src/lib.rs lacks #![forbid(unsafe_code)]"));
        }
        for dependency in dependencies(&dir.join("Cargo.toml")) {
            if !allowed.contains(&dependency.as_str()) {
                problems.push(format!("{name}: depends on {dependency}, not in the core's list"));
            }
        }
        for file in rust_files(&dir.join("src")) {
            let code = production_code(&fs::read_to_string(&file).unwrap());
            for word in CORE_FORBIDDEN {
                if code.contains(word) {
                    problems.push(format!("{name}: {} names {word}", file.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The core crates' modules below their top level that are public: protocol tables and
/// module-level functions that read best with their module's name (`cookie::seal`,
/// `ke_records::NEW_COOKIE`, `nmea_out::sentences`), the simulation harness and the gpsd
/// comparison the benchmark runs. Every other one is private behind its facade's `pub use`.
const CORE_PUBLIC_SUBMODULES: &[(&str, &[&str])] = &[
    (
        "core/src",
        &[
            "nts::cookie",
            "nts::ke_records",
            "nts::ntp_auth",
            "clock::accuracy",
            "clock::simulation",
            "clock::tracking_floor",
        ],
    ),
    ("refclock-core/src", &["nmea::agreement", "sim::nmea_out"]),
];

#[test]
fn the_core_facades_choose_what_is_public() {
    let mut public = Vec::new();
    for (dir, allowed) in CORE_PUBLIC_SUBMODULES {
        public.extend(
            public_submodules(&Path::new(ROOT).join(dir))
                .into_iter()
                .filter(|m| !allowed.contains(&m.as_str())),
        );
    }
    assert!(public.is_empty(), "public submodules of a core crate outside the list: {public:?}");
}

/// `facade::name` for every `pub mod name;` in a `mod.rs` below `src`.
fn public_submodules(src: &Path) -> Vec<String> {
    let mut public = Vec::new();
    for file in rust_files(src) {
        if !file.ends_with("mod.rs") {
            continue;
        }
        let facade = file.parent().unwrap().strip_prefix(src).unwrap().to_string_lossy().replace('/', "::");
        for line in production_code(&fs::read_to_string(&file).unwrap()).lines() {
            if let Some(name) = line.trim().strip_prefix("pub mod ").and_then(|l| l.strip_suffix(';')) {
                public.push(format!("{facade}::{name}"));
            }
        }
    }
    public
}

#[test]
fn unsafe_stays_in_the_listed_shell_files() {
    let mut found = Vec::new();
    for dir in ["src", "refclock/src", "web/src", "bench/src", "core/src", "refclock-core/src"] {
        for file in rust_files(&Path::new(ROOT).join(dir)) {
            let code = production_code(&fs::read_to_string(&file).unwrap());
            if contains_word(&code, "unsafe") {
                let relative = file.strip_prefix(ROOT).unwrap().to_string_lossy().into_owned();
                if !UNSAFE_ALLOWED.contains(&relative.as_str()) {
                    found.push(relative);
                }
            }
        }
    }
    assert!(found.is_empty(), "unsafe outside the listed system-interface modules: {found:?}");
}

#[test]
fn the_web_crate_depends_on_no_other_workspace_crate() {
    let workspace: Vec<&str> = CRATES.iter().map(|(name, _)| *name).collect();
    let web = dependencies(&Path::new(ROOT).join("web/Cargo.toml"));
    let inward: Vec<&String> = web.iter().filter(|d| workspace.contains(&d.as_str())).collect();
    assert!(inward.is_empty(), "stratum1-web depends on {inward:?}; it should see the snapshot only");
}

/// The checker itself finds what it is for: a cycle, `unsafe` and I/O in a made-up crate.
#[test]
fn the_checks_catch_a_cycle_unsafe_and_io() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("b")).unwrap();
    fs::write(src.join("lib.rs"), "mod a;\npub mod b;\nmod c;\n").unwrap();
    fs::write(src.join("a.rs"), "use crate::{b::x, c};\n// crate::c in a comment is no edge\n").unwrap();
    fs::write(src.join("b/mod.rs"), "mod inner;\n").unwrap();
    fs::write(src.join("b/inner.rs"), "fn f() { super::super::a::g(); unsafe { std::fs::read(\"x\"); } }\n")
        .unwrap();
    fs::write(src.join("c.rs"), "#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n").unwrap();
    let graph = module_graph(&src.join("lib.rs"));
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned(), "c".to_owned()]));
    assert!(graph["c"].is_empty(), "a test module's imports are no edge");
    assert_eq!(cycles_in(&graph), vec![vec!["a".to_owned(), "b".to_owned()]]);
    let code = production_code(&fs::read_to_string(src.join("b/inner.rs")).unwrap());
    assert!(contains_word(&code, "unsafe") && code.contains("std::fs"));
    assert!(!contains_word("unsafe_code", "unsafe"));
}

/// Top-level module -> the top-level modules its files name through `crate::` or `super::`.
fn module_graph(root_file: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = root_file.parent().unwrap();
    let root = fs::read_to_string(root_file).unwrap();
    let modules: Vec<String> = production_code(&root)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut edges = BTreeSet::new();
        let single = src.join(format!("{module}.rs"));
        let mut files: Vec<(PathBuf, usize)> = Vec::new();
        if single.exists() {
            files.push((single, 1));
        }
        for file in rust_files(&src.join(module)) {
            // src/m/mod.rs is at depth 1, src/m/a.rs at 2, src/m/a/b.rs at 3.
            let inside = file.strip_prefix(src.join(module)).unwrap();
            let depth = inside.components().count() + usize::from(!inside.ends_with("mod.rs"));
            files.push((file, depth));
        }
        for (file, depth) in files {
            let code = production_code(&fs::read_to_string(&file).unwrap());
            for target in named_top_level_modules(&code, depth) {
                if &target != module && modules.contains(&target) {
                    edges.insert(target);
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// The top-level modules a file at `depth` names: `crate::m`, `crate::{m, n::x}`, and
/// `super::` repeated `depth` times (which is the crate root).
fn named_top_level_modules(code: &str, depth: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut prefixes = vec!["crate::".to_owned()];
    prefixes.push("super::".repeat(depth));
    for prefix in &prefixes {
        let mut rest = code;
        while let Some(at) = rest.find(prefix.as_str()) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = closing_brace(group);
                names.extend(top_level_items(&group[..end]));
            } else {
                names.push(identifier(rest));
            }
        }
    }
    names.retain(|n| !n.is_empty() && n != "self" && n != "super");
    names
}

fn closing_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The first identifier of each comma-separated item at the top of a `{...}` use group.
fn top_level_items(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(identifier(group[start..i].trim_start()));
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(identifier(group[start..].trim_start()));
    items
}

fn identifier(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Every cycle's members (each strongly connected component with more than one module).
fn cycles_in(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|k| (k, reaches(k))).collect();
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for node in graph.keys() {
        if done.contains(node) || !reach[node].contains(node) {
            continue;
        }
        let members: Vec<String> = graph
            .keys()
            .filter(|other| reach[node].contains(*other) && reach[*other].contains(node))
            .cloned()
            .collect();
        done.extend(members.iter().cloned());
        cycles.push(members);
    }
    cycles
}

/// The file without comments and without its `#[cfg(test)]` items (a `mod tests { ... }` or a
/// single test-only item): what ships.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the item that follows: to the end of its braces, or its one line.
            let mut depth = 0i32;
            let mut opened = false;
            for next in lines.by_ref() {
                let code = strip_comment(next);
                depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
                opened |= code.contains('{');
                if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push_str(strip_comment(line));
        out.push('\n');
    }
    out
}

fn strip_comment(line: &str) -> &str {
    // Good enough for this code base: a `//` inside a string literal (a URL) only cuts text
    // that names no module.
    line.find("//").map_or(line, |at| &line[..at])
}

fn contains_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The names under `[dependencies]` in a Cargo.toml.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    value
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return files };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
