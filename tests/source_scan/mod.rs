//! Reading the crate's own source, for the tests that check it as text
//! (tests/docs.rs: every public fn documented; tests/fault_table.rs: every
//! public wrapper has a row). Line-based, relying on rustfmt's layout.

use std::path::{Path, PathBuf};

/// If `line` starts a function item: whether it is plain `pub` (not
/// `pub(crate)` and friends) and its name.
pub fn fn_item(line: &str) -> Option<(bool, String)> {
    let mut rest = line.trim_start();
    let mut public = false;
    if let Some(r) = rest.strip_prefix("pub ") {
        public = true;
        rest = r;
    } else if rest.starts_with("pub(") {
        let close = rest.find(')')?;
        rest = &rest[close + 1..];
    }
    let mut words = rest.split_whitespace();
    loop {
        match words.next()? {
            "const" | "async" | "unsafe" | "extern" | "default" => {}
            w if w.starts_with('"') => {} // the ABI string of `extern "C"`
            "fn" => break,
            _ => return None,
        }
    }
    let word = words.next()?;
    let name: String = word
        .strip_prefix("r#")
        .unwrap_or(word)
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some((public, name))
}

pub fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The index just past the bracket that closes the one at `b[start]`. An
/// arrow `->` is not a closing `>`, so `Fn(u8) -> u8` in generics is fine.
pub fn skip_balanced(b: &[u8], start: usize, open: u8, close: u8) -> usize {
    let mut depth = 0usize;
    let mut j = start;
    while j < b.len() {
        if b[j] == b'-' && b.get(j + 1) == Some(&b'>') {
            j += 2;
            continue;
        }
        if b[j] == open {
            depth += 1;
        } else if b[j] == close {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return j + 1;
            }
        }
        j += 1;
    }
    j
}
