//! build.rs's tool cfgs (`has_strace`, `has_systemd_socket_activate`: the
//! build host has that program on PATH) are used only to report a test as
//! ignored, "needs TOOL". Any other use could make a test that needs the
//! tool pass without it (`if !cfg!(..) { return }`) or vanish from the
//! report (`#[cfg(..)]`), and the README promises an ignored test with its
//! reason. The two allowed forms (the attribute on one line, or as rustfmt
//! breaks it when it is too long: `#[cfg_attr(`, one argument a line,
//! `)]`):
//!
//! - `#[cfg_attr(not(has_TOOL), ignore = "needs TOOL")]` on a libtest test;
//! - in tests/common/mod.rs, `pub const NEEDS_TOOL: Option<&str> = if
//!   cfg!(has_TOOL) {`, whose `else` is `Some("needs TOOL")`, for the
//!   `harness = false` binaries.
//!
//! Comments may name the cfgs. The tool and cfg names are read from
//! build.rs, so a tool added there is checked here too.

// Only its file walk is used here.
#[allow(dead_code)]
mod source_scan;

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// (tool, cfg) from build.rs's HOST_TOOLS: lines `("TOOL", "has_..."),`.
fn host_tools() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("build.rs")).unwrap();
    let tools: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("(\"")?.strip_suffix("),")?;
            let (tool, cfg) = l.split_once("\", \"")?;
            let cfg = cfg.strip_suffix('"')?;
            cfg.starts_with("has_")
                .then(|| (tool.to_owned(), cfg.to_owned()))
        })
        .collect();
    assert!(
        tools.len() >= 2,
        "build.rs's HOST_TOOLS not found: {tools:?}"
    );
    tools
}

/// Whether `line` names `cfg` as a whole word.
fn names(line: &str, cfg: &str) -> bool {
    line.match_indices(cfg).any(|(i, _)| {
        let word = |c: char| c.is_alphanumeric() || c == '_';
        !line[..i].ends_with(word) && !line[i + cfg.len()..].starts_with(word)
    })
}

/// Every way `text` (the file `path`) uses `cfg` but the allowed ones.
fn misuses(path: &Path, text: &str, tool: &str, cfg: &str) -> Vec<String> {
    let attr = format!("#[cfg_attr(not({cfg}), ignore = \"needs {tool}\")]");
    // Under qemu-user a tool may be there and useless (strace traces the
    // emulator): the one other form, which also only ignores.
    let qemu = format!("#[cfg_attr(all({cfg}, qemu_user), ignore = \"qemu-user: ");
    let allowed = |t: &str| t == attr || (t.starts_with(&qemu) && t.ends_with("\")]"));
    let reason = format!("Some(\"needs {tool}\")");
    let is_common = path.ends_with("tests/common/mod.rs");
    let lines: Vec<&str> = text.lines().collect();
    let mut bad = Vec::new();
    let mut skip_to = 0;
    for (i, line) in lines.iter().enumerate() {
        if i < skip_to {
            continue;
        }
        let t = line.trim();
        // rustfmt breaks an attribute too long for one line into
        // `#[cfg_attr(`, one argument a line, `)]`: read it as one line.
        if t == "#[cfg_attr(" {
            if let Some(end) = lines[i + 1..].iter().take(4).position(|l| l.trim() == ")]") {
                let args: Vec<&str> = lines[i + 1..i + 1 + end].iter().map(|l| l.trim()).collect();
                let joined = format!("#[cfg_attr({})]", args.join(" ").trim_end_matches(','));
                if allowed(&joined) {
                    skip_to = i + 2 + end;
                    continue;
                }
            }
        }
        if !names(t, cfg) || t.starts_with("//") || allowed(t) {
            continue;
        }
        let constant = is_common
            && t.starts_with("pub const NEEDS_")
            && t.ends_with(&format!(": Option<&str> = if cfg!({cfg}) {{"))
            && lines[i + 1..].iter().take(4).any(|l| l.trim() == reason);
        if !constant {
            bad.push(format!("{}:{}: {t}", path.display(), i + 1));
        }
    }
    bad
}

#[test]
fn tool_cfgs_only_mark_tests_ignored_with_their_reason() {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["src", "tests", "examples", "benches"] {
        let dir = Path::new(ROOT).join(dir);
        if dir.is_dir() {
            source_scan::rust_files(&dir, &mut files);
        }
    }
    let this = Path::new(ROOT).join(file!());
    let mut bad = Vec::new();
    for (tool, cfg) in host_tools() {
        let mut uses = 0;
        for path in files.iter().filter(|p| **p != this) {
            let text = std::fs::read_to_string(path).unwrap();
            uses += text.lines().filter(|l| names(l, &cfg)).count();
            bad.extend(misuses(path, &text, &tool, &cfg));
        }
        assert!(
            uses > 0,
            "no test is marked with {cfg}: is it still needed?"
        );
    }
    assert!(
        bad.is_empty(),
        "tool cfgs used other than as an ignore reason:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_an_early_return_and_a_vanishing_test() {
    let p = Path::new("tests/x.rs");
    let ok = "#[test]\n#[cfg_attr(not(has_strace), ignore = \"needs strace\")]\nfn t() {}\n";
    assert!(misuses(p, ok, "strace", "has_strace").is_empty());
    let wrapped = "#[test]\n#[cfg_attr(\n    not(has_strace),\n    ignore = \"needs strace\"\n)]\nfn t() {}\n";
    assert!(misuses(p, wrapped, "strace", "has_strace").is_empty());
    let wrapped_wrong = wrapped.replace("needs strace", "needs nothing");
    let qemu =
        "#[test]\n#[cfg_attr(all(has_strace, qemu_user), ignore = \"qemu-user: no\")]\nfn t() {}\n";
    assert_eq!(
        misuses(p, qemu, "strace", "has_strace"),
        Vec::<String>::new()
    );
    let qemu_run = qemu.replace("ignore = ", "test, x = ");
    assert_eq!(misuses(p, &qemu_run, "strace", "has_strace").len(), 1);
    assert_eq!(misuses(p, &wrapped_wrong, "strace", "has_strace").len(), 1);
    for bad in [
        "fn t() {\n    if !cfg!(has_strace) {\n        return;\n    }\n}\n",
        "#[cfg(has_strace)]\n#[test]\nfn t() {}\n",
        "#[cfg_attr(not(has_strace), ignore = \"needs valgrind\")]\n",
        "#[cfg_attr(not(has_strace), ignore)]\n",
    ] {
        assert_eq!(misuses(p, bad, "strace", "has_strace").len(), 1, "{bad}");
    }
    // The constant is allowed in tests/common/mod.rs only, with its reason.
    let constant = "pub const NEEDS_STRACE: Option<&str> = if cfg!(has_strace) {\n    None\n} else {\n    Some(\"needs strace\")\n};\n";
    assert!(
        misuses(
            Path::new("/r/tests/common/mod.rs"),
            constant,
            "strace",
            "has_strace"
        )
        .is_empty()
    );
    assert_eq!(misuses(p, constant, "strace", "has_strace").len(), 1);
    let wrong = constant.replace("needs strace", "needs nothing");
    assert_eq!(
        misuses(
            Path::new("/r/tests/common/mod.rs"),
            &wrong,
            "strace",
            "has_strace"
        )
        .len(),
        1
    );
}
