//! Every public function that returns a `Result` says how it fails: its doc
//! comment has an `# Errors` section with something in it.
//!
//! The crate's rule (STYLE.md): each public wrapper lists the errnos the
//! kernel returns for it and their causes. This test reads the sources in
//! `src/` and fails on any public function, or method of a public trait,
//! whose return type is `io::Result` or `Result` and whose docs lack that
//! section. Methods in trait *impls* are not checked: they cannot be `pub`,
//! and their contract is documented on the trait. Clippy's
//! `missing_errors_doc` (warn, denied in CI) checks the same from the
//! compiler's side; this test keeps the rule in `cargo test` too.
//!
//! The scan leans on rustfmt's layout (CI checks it): an item in a block is
//! indented four spaces more than the line that opens the block.

use std::path::{Path, PathBuf};

/// A function the scan found that must document its errors.
#[derive(Debug)]
struct Checked {
    name: String,
    line: usize,
    /// None: documented. Some: what is missing.
    problem: Option<&'static str>,
}

#[test]
fn every_public_fallible_function_has_an_errors_section() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .rs files under {}", src.display());

    let mut checked = Vec::new();
    let mut missing = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for c in scan(&text) {
            if let Some(problem) = c.problem {
                let rel = file
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or(file);
                missing.push(format!(
                    "{}:{}: fn {} — {problem}",
                    rel.display(),
                    c.line,
                    c.name
                ));
            }
            checked.push(c.name);
        }
    }
    // The scan must see the crate's wrappers, or it proves nothing.
    for known in ["new", "bind", "connect", "send", "recv_from", "take_error"] {
        assert!(
            checked.iter().any(|n| n == known),
            "the scan did not find fn {known}: it is missing functions"
        );
    }
    assert!(
        missing.is_empty(),
        "public functions returning Result without a filled `# Errors` section:\n{}",
        missing.join("\n")
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every function in `text` that must document its errors, with whether it
/// does.
fn scan(text: &str) -> Vec<Checked> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((public, name)) = fn_item(line) else {
            continue;
        };
        if !(public || in_public_trait(&lines, i)) {
            continue;
        }
        if !returns_result(&signature(&lines, i)) {
            continue;
        }
        found.push(Checked {
            name,
            line: i + 1,
            problem: errors_section_problem(&doc_lines(&lines, i)),
        });
    }
    found
}

/// If `line` starts a function item: whether it is plain `pub` (not
/// `pub(crate)` and friends) and its name.
fn fn_item(line: &str) -> Option<(bool, String)> {
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

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether line `i` is an item directly inside a `pub trait` block: the
/// nearest line above, four spaces less indented, opens that block.
fn in_public_trait(lines: &[&str], i: usize) -> bool {
    let own = indent(lines[i]);
    if own < 4 {
        return false;
    }
    for line in lines[..i].iter().rev() {
        let t = line.trim();
        if t.is_empty() || indent(line) != own - 4 || t.starts_with("//") || t.starts_with("#[") {
            continue;
        }
        return (t.starts_with("pub trait ") || t.starts_with("pub unsafe trait "))
            && t.ends_with('{');
    }
    false
}

/// The function's signature, from `fn` to its body's `{` or its `;`, on one
/// line; a `where` clause is left out.
fn signature(lines: &[&str], i: usize) -> String {
    let mut sig = String::new();
    for line in &lines[i..] {
        let t = line.trim();
        if t == "where" || t.starts_with("where ") {
            break;
        }
        sig.push_str(t);
        sig.push(' ');
        if t.ends_with('{') || t.ends_with(';') {
            break;
        }
    }
    sig
}

/// Whether the signature's return type is a `Result`. Generics and the
/// argument list are skipped by bracket depth, so `impl Fn() -> io::Result`
/// in an argument is not mistaken for the return type.
fn returns_result(sig: &str) -> bool {
    let Some(start) = sig.find("fn ") else {
        return false;
    };
    let b = sig.as_bytes();
    let mut j = start + 3;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'#') {
        j += 1;
    }
    // Generics, then the argument list.
    if b.get(j) == Some(&b'<') {
        j = skip_balanced(b, j, b'<', b'>');
    }
    j = skip_balanced(b, j, b'(', b')');
    let Some(ret) = sig[j.min(sig.len())..].trim_start().strip_prefix("->") else {
        return false;
    };
    let ret = ret.trim_start();
    [
        "io::Result",
        "std::io::Result",
        "Result<",
        "std::result::Result<",
        "core::result::Result<",
    ]
    .iter()
    .any(|p| ret.starts_with(p))
}

/// The index just past the bracket that closes the one at `b[start]`. An
/// arrow `->` is not a closing `>`, so `Fn(u8) -> u8` in generics is fine.
fn skip_balanced(b: &[u8], start: usize, open: u8, close: u8) -> usize {
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

/// The `///` doc lines above line `i`, top to bottom, skipping attributes
/// (single- or multi-line) between them and the item.
fn doc_lines(lines: &[&str], i: usize) -> Vec<String> {
    let mut docs = Vec::new();
    let mut k = i;
    while k > 0 {
        k -= 1;
        let t = lines[k].trim();
        if let Some(d) = t.strip_prefix("///") {
            docs.push(d.strip_prefix(' ').unwrap_or(d).to_string());
        } else if t.starts_with("#[") {
            continue;
        } else if t.ends_with(']') || t.ends_with("])") || t.ends_with(")]") {
            // The last line of a multi-line attribute: go up to its `#[`.
            while k > 0 && !lines[k].trim().starts_with("#[") {
                k -= 1;
            }
        } else {
            break;
        }
    }
    docs.reverse();
    docs
}

/// None if the docs hold an `# Errors` heading followed by some text before
/// the next heading; otherwise what is wrong.
fn errors_section_problem(docs: &[String]) -> Option<&'static str> {
    let Some(at) = docs.iter().position(|l| l.trim() == "# Errors") else {
        return Some("no `# Errors` section in its docs");
    };
    let body = docs[at + 1..]
        .iter()
        .take_while(|l| !l.trim_start().starts_with("# "))
        .any(|l| !l.trim().is_empty());
    (!body).then_some("its `# Errors` section is empty")
}

// ---- the scanner's own tests: it must be able to fail ----

fn problems(src: &str) -> Vec<(String, Option<&'static str>)> {
    scan(src).into_iter().map(|c| (c.name, c.problem)).collect()
}

#[test]
fn scan_flags_a_public_fn_without_errors() {
    let src = "
/// `bind(fd)` — give it a name.
pub fn bind(&self) -> io::Result<()> {
}
";
    assert_eq!(
        problems(src),
        [(
            "bind".to_string(),
            Some("no `# Errors` section in its docs")
        )]
    );
}

#[test]
fn scan_accepts_errors_past_attributes_and_multiline_signatures() {
    let src = r#"
/// `sendto` — send.
///
/// # Errors
///
/// - `EPIPE`: the peer is gone.
#[doc(alias = "sendto")]
#[cfg_attr(
    docsrs,
    doc(cfg(all()))
)]
pub fn send_to_with_flags(
    &self,
    buf: &[u8],
) -> io::Result<usize> {
}
"#;
    assert_eq!(problems(src), [("send_to_with_flags".to_string(), None)]);
}

#[test]
fn scan_flags_an_empty_errors_section() {
    let src = "
/// # Errors
///
/// # Examples
pub fn f() -> Result<(), E> {}
";
    assert_eq!(
        problems(src),
        [("f".to_string(), Some("its `# Errors` section is empty"))]
    );
}

#[test]
fn scan_ignores_private_crate_visible_and_infallible_fns() {
    let src = "
pub(crate) fn socket() -> io::Result<OwnedFd> {}
fn helper() -> io::Result<()> {}
/// No errors: it cannot fail.
pub fn len(&self) -> usize {}
/// Takes a fallible callback but cannot fail itself.
pub fn with<F: Fn(u8) -> io::Result<()>>(f: F) -> u8 {}
/// Same, with impl Trait.
pub fn with2(f: impl Fn() -> io::Result<()>) -> Option<u8> {}
";
    assert_eq!(problems(src), []);
}

#[test]
fn scan_skips_trait_impls_and_checks_public_trait_declarations() {
    let src = "
impl Read for OwnedSocket {
    /// `recvfrom`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
    }
}

/// The poller.
pub trait Poller {
    /// Waits.
    fn wait(&mut self, events: &mut Events) -> io::Result<usize>;

    /// Registers.
    ///
    /// # Errors
    ///
    /// - `AlreadyExists`: registered twice.
    fn register(&mut self) -> io::Result<()>;
}

trait Private {
    fn hidden(&self) -> io::Result<()>;
}
";
    assert_eq!(
        problems(src),
        [
            (
                "wait".to_string(),
                Some("no `# Errors` section in its docs")
            ),
            ("register".to_string(), None),
        ]
    );
}

#[test]
fn scan_reads_qualified_and_raw_names() {
    let src = "
/// # Errors
///
/// As `new`.
pub unsafe fn from_raw(fd: RawFd) -> std::io::Result<Self> {}
/// `getsockopt(SO_TYPE)`.
pub const fn r#type(&self) -> io::Result<Type> {}
";
    assert_eq!(
        problems(src),
        [
            ("from_raw".to_string(), None),
            (
                "type".to_string(),
                Some("no `# Errors` section in its docs")
            ),
        ]
    );
}

// ---- the README's syscall map ----

/// The syscalls the crate makes: every `Syscall` variant that a wrapper in
/// `src/sys/` passes to `run` or `enter`, by the name strace gives it.
fn syscalls_made() -> Vec<String> {
    let sys = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sys");
    let mod_rs = std::fs::read_to_string(sys.join("mod.rs")).expect("read src/sys/mod.rs");
    // `Syscall::Socket => "socket",` in `Syscall::name`.
    let mut names = std::collections::BTreeMap::new();
    for line in mod_rs.lines() {
        let t = line.trim();
        if let Some((variant, name)) = t
            .strip_prefix("Syscall::")
            .and_then(|r| r.split_once(" => \""))
        {
            names.insert(variant.to_owned(), name.trim_end_matches("\",").to_owned());
        }
    }
    assert!(
        names.len() > 20,
        "Syscall::name not found in src/sys/mod.rs"
    );
    let mut files = Vec::new();
    rust_files(&sys, &mut files);
    let mut made = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read src/sys file");
        for caller in ["run(Syscall::", "enter(Syscall::"] {
            for (at, _) in text.match_indices(caller) {
                let rest = &text[at + caller.len()..];
                let variant: String = rest
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                let name = names
                    .get(&variant)
                    .unwrap_or_else(|| panic!("Syscall::{variant} has no name"));
                made.insert(name.clone());
            }
        }
    }
    made.into_iter().collect()
}

/// The rows of README.md's "Syscall map" table: (syscalls, baresock calls,
/// shown in). Syscalls are the backticked names of the first cell outside
/// parentheses.
fn syscall_map_rows(readme: &str) -> Vec<(Vec<String>, String, String)> {
    let section = readme
        .split("\n## Syscall map")
        .nth(1)
        .expect("README.md has a \"## Syscall map\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        // Cells split on `|` that are not escaped as `\|`.
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut prev = ' ';
        for c in line.trim().trim_matches('|').chars() {
            if c == '|' && prev != '\\' {
                cells.push(std::mem::take(&mut cell).trim().to_owned());
            } else {
                cell.push(c);
            }
            prev = c;
        }
        cells.push(cell.trim().to_owned());
        assert_eq!(cells.len(), 3, "a syscall map row needs 3 cells: {line}");
        let first = cells[0].split('(').next().unwrap_or("");
        let syscalls = first
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        rows.push((syscalls, cells[1].clone(), cells[2].clone()));
    }
    rows
}

#[test]
fn readme_syscall_map_has_a_row_for_every_syscall_the_crate_makes() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let rows = syscall_map_rows(&readme);
    let mapped: Vec<&String> = rows.iter().flat_map(|r| &r.0).collect();
    let made = syscalls_made();
    for name in ["socket", "accept4", "pselect6", "epoll_pwait2", "getegid"] {
        assert!(made.iter().any(|m| m == name), "the scan missed {name}");
    }
    for name in &made {
        assert!(
            mapped.contains(&name),
            "README.md's syscall map has no row for `{name}`"
        );
    }
    for name in &mapped {
        assert!(
            made.contains(name),
            "README.md's syscall map has a row for `{name}`, which the crate never makes"
        );
    }
    for (syscalls, calls, shown) in &rows {
        assert!(
            calls.contains('`') && !shown.is_empty(),
            "the row for {syscalls:?} names no baresock call or no example"
        );
    }
}

#[test]
fn syscall_map_parser_reads_rows() {
    let readme = "intro\n## Syscall map\n\n| syscall | baresock | shown in |\n| --- | --- | --- |\n| `pselect6` (glibc's `select`) | `accept` (`A\\|B`) | `tour` |\n| `getpid`, `geteuid` | `x` | not yet |\n\n## Next\n| `not` | `a` | `row` |\n";
    let rows = syscall_map_rows(readme);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, ["pselect6"]);
    assert_eq!(rows[0].1, "`accept` (`A\\|B`)");
    assert_eq!(rows[0].2, "`tour`");
    assert_eq!(rows[1].0, ["getpid", "geteuid"]);
}
