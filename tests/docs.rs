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
//! The same scan checks the rest of the docs rule for wrappers (a public
//! function that makes a syscall, found by following calls from its body
//! into `src/sys/`): the first line of its docs begins with the C call
//! shape it makes, and a public module or type that makes syscalls links a
//! man page (man7.org) on itself or in its public module's docs. And the
//! README's syscall map has a row for every syscall `src/sys/` makes.
//!
//! The scan leans on rustfmt's layout (CI checks it): an item in a block is
//! indented four spaces more than the line that opens the block.

use std::path::Path;

mod source_scan;
use source_scan::{fn_item, indent, rust_files, skip_balanced};

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
/// `src/sys/` passes to `run`, `enter` or `in_child`, by the name strace
/// gives it.
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
        // `in_child`: the calls a forked child makes without hooks
        // (src/sys/process.rs).
        for caller in ["run(Syscall::", "enter(Syscall::", "in_child(Syscall::"] {
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

// ---- wrappers name their syscall; wrapping modules and types link a man page ----
//
// A *wrapper* is a public function (or a public trait's method) that makes
// a syscall: its body reaches `sys::`, directly or through the crate's
// private helpers (`get(self, SO_TYPE)` in opt, `adopt_all(...)` in
// activation, a backend's `fn wait` in `impl Poller for Epoll`). The
// summary of its docs (the first paragraph) must begin with a backticked
// C call shape of a syscall the crate makes, `name(args)`, as STYLE.md
// asks: "First line: the C call shape, an em-dash, then what it does".
//
// A public module that holds a wrapper, and a public type that has one
// (or implements a public trait with methods that make syscalls), must
// link a man page (man7.org): on the type itself, or in the module docs
// of the public module a reader finds it in (a private file's own `//!`
// docs are not rendered, so they do not count).

/// One `fn` item of a source file.
#[derive(Debug)]
struct FnItem {
    name: String,
    line: usize,
    /// Plain `pub`.
    public: bool,
    /// The `impl`/`trait` block it sits in: (trait or None, type), or
    /// None at module level.
    owner: Option<(Option<String>, String)>,
    /// Its body, empty for a declaration without one.
    body: String,
    docs: Vec<String>,
}

/// A source file: its path under `src/` (as `a/b.rs`), its text without
/// the `#[cfg(test)] mod tests` block.
struct Source {
    rel: String,
    text: String,
}

fn sources(src: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&f).expect("read source");
            Source {
                rel,
                text: without_tests(&text),
            }
        })
        .collect()
}

fn without_tests(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// `impl<..> [Trait for] Type<..> {` as (trait, type).
fn impl_owner(line: &str) -> Option<(Option<String>, String)> {
    let t = line.trim();
    let rest = t
        .strip_prefix("unsafe impl")
        .or_else(|| t.strip_prefix("impl"))?;
    let rest = rest.trim_start();
    let rest = if rest.starts_with('<') {
        let end = skip_balanced(rest.as_bytes(), 0, b'<', b'>');
        rest[end..].trim_start()
    } else {
        rest
    };
    let ident = |s: &str| -> String {
        let s = s.trim_start().trim_start_matches("crate::");
        let s = s.rsplit("::").next().unwrap_or(s);
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    Some(match rest.split_once(" for ") {
        Some((tr, ty)) => (Some(ident(tr)), ident(ty)),
        None => (None, ident(rest)),
    })
}

fn fn_items(text: &str) -> Vec<FnItem> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((public, name)) = fn_item(line) else {
            continue;
        };
        let own = indent(line);
        // The block it sits in: the nearest line above, four spaces less
        // indented.
        let mut owner = None;
        if own >= 4 {
            for above in lines[..i].iter().rev() {
                let t = above.trim();
                if t.is_empty()
                    || indent(above) != own - 4
                    || t.starts_with("//")
                    || t.starts_with("#[")
                {
                    continue;
                }
                if let Some(o) = impl_owner(above) {
                    owner = Some(o);
                } else if let Some(tr) = t
                    .strip_prefix("pub trait ")
                    .or_else(|| t.strip_prefix("trait "))
                {
                    let tr: String = tr
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    owner = Some((Some(tr.clone()), tr));
                }
                break;
            }
        }
        // The signature ends with `{` (a body follows), `{}` or `;`.
        let mut end_sig = i;
        while end_sig < lines.len() {
            let t = lines[end_sig].trim_end();
            if t.ends_with('{') || t.ends_with(';') || t.ends_with("{}") {
                break;
            }
            end_sig += 1;
        }
        let mut body = String::new();
        if lines
            .get(end_sig)
            .is_some_and(|l| l.trim_end().ends_with('{'))
        {
            for l in &lines[end_sig + 1..] {
                if indent(l) == own && l.trim_start().starts_with('}') {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
        }
        out.push(FnItem {
            name,
            line: i + 1,
            public,
            owner,
            body,
            docs: doc_lines(&lines, i),
        });
    }
    out
}

/// Where `name(` or `name::<` starts in `body`, with the text before it.
fn call_sites<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    let paren = format!("{name}(");
    let turbofish = format!("{name}::<");
    body.match_indices(&paren)
        .chain(body.match_indices(&turbofish))
        .map(|(at, _)| &body[..at])
        .filter(|before| {
            !before
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .collect()
}

/// Whether `body` calls a free function named `name`: as `name(` or
/// through a lowercase path (`opt::set_int(`); never a method
/// (`map.get(`) or a type's function (`Vec::new(`).
fn calls(body: &str, name: &str) -> bool {
    call_sites(body, name).into_iter().any(|before| {
        if before.ends_with('.') {
            return false;
        }
        match before.strip_suffix("::") {
            Some(path) => path
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .is_some_and(|seg| {
                    seg.starts_with(|c: char| c.is_ascii_lowercase()) && seg != "self"
                }),
            None => true,
        }
    })
}

/// Whether `body` calls its own type's method or function `name`:
/// `self.name(` or `Self::name(`.
fn calls_own(body: &str, name: &str) -> bool {
    call_sites(body, name)
        .into_iter()
        .any(|before| before.ends_with("self.") || before.ends_with("Self::"))
}

/// The functions of `src/sys/` that make a syscall: their body passes a
/// `Syscall` to `run` or `enter`, or calls one that does.
fn sys_syscall_fns(sources: &[&Source]) -> Vec<String> {
    let items: Vec<FnItem> = sources
        .iter()
        .filter(|s| s.rel.starts_with("sys/"))
        .flat_map(|s| fn_items(&s.text))
        .collect();
    let mut made: Vec<String> = items
        .iter()
        .filter(|f| f.body.contains("run(Syscall::") || f.body.contains("enter(Syscall::"))
        .map(|f| f.name.clone())
        .collect();
    loop {
        let more: Vec<String> = items
            .iter()
            .filter(|f| !made.contains(&f.name) && made.iter().any(|n| calls(&f.body, n)))
            .map(|f| f.name.clone())
            .collect();
        if more.is_empty() {
            return made;
        }
        made.extend(more);
    }
}

/// Whether `body` calls into the syscall layer, `sys::...::name(`, for a
/// `name` that makes a syscall (`sys::poll::fd_set_new()` does not).
fn calls_sys(body: &str, sys_fns: &[String]) -> bool {
    body.match_indices("sys::").any(|(at, _)| {
        if body[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            return false;
        }
        let path: String = body[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let after = &body[at + path.len()..];
        // `sys::net::getsockopt::<T>(`: a turbofish before the arguments.
        let called = after.starts_with('(') || (path.ends_with("::") && after.starts_with('<'));
        let name = path
            .trim_end_matches("::")
            .rsplit("::")
            .next()
            .unwrap_or("");
        called && sys_fns.iter().any(|n| n == name)
    })
}

/// What makes syscalls outside `src/sys/`: the functions that do,
/// directly or through one another (`self.send_with_flags(`,
/// `Epoll::new(`, `get(self, SO_TYPE)`), as (their type, or None for a
/// free function; name); the public traits' methods whose implementations do,
/// as (trait, method); and the types with such an implementation.
struct Reach {
    fns: Vec<(Option<String>, String)>,
    trait_methods: Vec<(String, String)>,
    trait_types: Vec<String>,
}

/// The type a function belongs to (for `self.name(` calls); None for a
/// free function or a trait's declaration.
fn own_type(f: &FnItem) -> Option<&String> {
    match &f.owner {
        Some((Some(tr), ty)) if tr == ty => None,
        Some((_, ty)) => Some(ty),
        None => None,
    }
}

impl Reach {
    fn reaches(&self, f: &FnItem, sys_fns: &[String]) -> bool {
        calls_sys(&f.body, sys_fns)
            || self.fns.iter().any(|(ty, n)| match ty {
                None => calls(&f.body, n),
                Some(t) => {
                    (own_type(f) == Some(t) && calls_own(&f.body, n))
                        || call_sites(&f.body, n).into_iter().any(|before| {
                            before.strip_suffix("::").is_some_and(|p| {
                                p.strip_suffix(t.as_str()).is_some_and(|p| {
                                    !p.ends_with(|c: char| c.is_alphanumeric() || c == '_')
                                })
                            })
                        })
                }
            })
    }
}

fn reaching(
    files: &[(String, Vec<FnItem>)],
    public_traits: &[String],
    sys_fns: &[String],
) -> Reach {
    let all: Vec<&FnItem> = files.iter().flat_map(|(_, items)| items).collect();
    let key = |f: &FnItem| (own_type(f).cloned(), f.name.clone());
    let mut reach = Reach {
        fns: Vec::new(),
        trait_methods: Vec::new(),
        trait_types: Vec::new(),
    };
    loop {
        let more: Vec<(Option<String>, String)> = all
            .iter()
            .filter(|f| !f.body.is_empty() && !reach.fns.contains(&key(f)))
            .filter(|f| reach.reaches(f, sys_fns))
            .map(|f| key(f))
            .collect();
        if more.is_empty() {
            break;
        }
        reach.fns.extend(more);
    }
    for f in &all {
        if let Some((Some(tr), ty)) = &f.owner {
            if tr != ty && public_traits.contains(tr) && reach.fns.contains(&key(f)) {
                reach.trait_methods.push((tr.clone(), f.name.clone()));
                reach.trait_types.push(ty.clone());
            }
        }
    }
    reach
}

fn is_wrapper(f: &FnItem, reach: &Reach, public_traits: &[String]) -> bool {
    match &f.owner {
        // A trait's declaration: a public trait's method wraps if an
        // implementation does.
        Some((Some(tr), ty)) if tr == ty => {
            public_traits.contains(tr)
                && reach
                    .trait_methods
                    .iter()
                    .any(|(t, m)| t == tr && *m == f.name)
        }
        _ => f.public && reach.fns.contains(&(own_type(f).cloned(), f.name.clone())),
    }
}

/// Whether a wrapper's summary begins with a backticked call shape of one
/// of `syscalls`; None if so, else what is wrong.
fn summary_problem(docs: &[String], syscalls: &[String]) -> Option<String> {
    let summary = docs
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let bad = || {
        Some(format!(
            "its first doc line does not begin with the C call it makes (`name(args)`): {summary:?}"
        ))
    };
    let Some(rest) = summary.strip_prefix('`') else {
        return bad();
    };
    let Some(span) = rest.split('`').next() else {
        return bad();
    };
    let Some((name, args)) = span.split_once('(') else {
        return bad();
    };
    if !args.ends_with(')') || !syscalls.iter().any(|s| s == name) {
        return bad();
    }
    None
}

/// The syscalls a call shape may name: every syscall the crate makes, and
/// the C library's names for two of them.
fn call_names() -> Vec<String> {
    let mut names = syscalls_made();
    names.extend(["select", "eventfd"].map(String::from));
    names
}

/// Whether the module file `rel` is declared `pub mod` by its parent.
fn is_public_module(rel: &str, sources: &[Source]) -> bool {
    let path = Path::new(rel);
    let name = if path.file_name().is_some_and(|f| f == "mod.rs") {
        path.parent().and_then(|p| p.file_name())
    } else {
        path.file_stem()
    };
    let Some(name) = name.and_then(|n| n.to_str()) else {
        return false;
    };
    let grand = if path.file_name().is_some_and(|f| f == "mod.rs") {
        path.parent().and_then(Path::parent)
    } else {
        path.parent()
    };
    let parent = match grand.map(|g| g.to_string_lossy().into_owned()) {
        Some(g) if !g.is_empty() => format!("{g}/mod.rs"),
        _ => "lib.rs".to_owned(),
    };
    sources.iter().any(|s| {
        s.rel == parent
            && s.text
                .lines()
                .any(|l| l.trim() == format!("pub mod {name};"))
    })
}

/// The `//!` docs of the public module a reader finds `rel`'s items in:
/// its own if it is a public module, else its parent directory's `mod.rs`
/// if that one is.
fn rendered_module_docs(rel: &str, sources: &[Source]) -> String {
    let docs_of = |r: &str| {
        sources
            .iter()
            .find(|s| s.rel == r)
            .map(|s| {
                s.text
                    .lines()
                    .filter(|l| l.trim_start().starts_with("//!"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    if is_public_module(rel, sources) {
        return docs_of(rel);
    }
    match Path::new(rel).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !rel.ends_with("mod.rs") => {
            let parent = format!("{}/mod.rs", dir.display());
            if is_public_module(&parent, sources) {
                docs_of(&parent)
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

/// Every problem of the wrapper rules in `sources`, and how many wrappers
/// there are.
fn wrapper_problems(all: &[Source], syscalls: &[String]) -> (Vec<String>, usize) {
    let every: Vec<&Source> = all.iter().collect();
    let sys_fns = sys_syscall_fns(&every);
    let sources: Vec<&Source> = all.iter().filter(|s| !s.rel.starts_with("sys/")).collect();
    let files: Vec<(String, Vec<FnItem>)> = sources
        .iter()
        .map(|s| (s.rel.clone(), fn_items(&s.text)))
        .collect();
    let public_traits: Vec<String> = sources
        .iter()
        .flat_map(|s| s.text.lines())
        .filter_map(|l| l.trim_start().strip_prefix("pub trait "))
        .map(|r| {
            r.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    let reach = reaching(&files, &public_traits, &sys_fns);
    let mut problems = Vec::new();
    let mut wrappers = 0;
    // Types that wrap syscalls, and the files holding wrappers.
    let mut types: Vec<String> = reach.trait_types.clone();
    let mut wrapping_files: Vec<String> = Vec::new();
    for (rel, items) in &files {
        for f in items {
            if !is_wrapper(f, &reach, &public_traits) {
                continue;
            }
            wrappers += 1;
            if let Some(p) = summary_problem(&f.docs, syscalls) {
                problems.push(format!("src/{rel}:{}: fn {} — {p}", f.line, f.name));
            }
            if let Some((_, ty)) = &f.owner {
                types.push(ty.clone());
            }
            wrapping_files.push(rel.clone());
        }
    }
    types.sort();
    types.dedup();
    // Only public types are checked: the others are not in the docs.
    for ty in &types {
        for s in &sources {
            let lines: Vec<&str> = s.text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                let t = l.trim_start();
                let defines = ["pub struct ", "pub enum ", "pub trait ", "pub union "]
                    .iter()
                    .filter_map(|k| t.strip_prefix(k))
                    .any(|r| {
                        r.strip_prefix(ty.as_str()).is_some_and(|after| {
                            !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                        })
                    });
                if !defines {
                    continue;
                }
                let own = doc_lines(&lines, i).join("\n");
                let module = rendered_module_docs(&s.rel, all);
                if !own.contains("man7.org") && !module.contains("man7.org") {
                    problems.push(format!(
                        "src/{}:{}: type {ty} makes syscalls but links no man page (man7.org) on itself or in its public module's docs",
                        s.rel,
                        i + 1
                    ));
                }
            }
        }
    }
    wrapping_files.sort();
    wrapping_files.dedup();
    for rel in &wrapping_files {
        if is_public_module(rel, all) && !rendered_module_docs(rel, all).contains("man7.org") {
            problems.push(format!(
                "src/{rel}: a public module that makes syscalls links no man page (man7.org) in its module docs"
            ));
        }
    }
    (problems, wrappers)
}

#[test]
fn every_wrapper_names_its_syscall_and_links_a_man_page() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = sources(&src);
    let (problems, wrappers) = wrapper_problems(&sources, &call_names());
    // The scan must see the crate's wrappers, or it proves nothing.
    assert!(wrappers > 100, "the scan found only {wrappers} wrappers");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The check bites on the real sources: `bind`'s first doc line without
/// its call shape, and `OwnedSocket`'s docs without their man pages (the
/// links of src/socket.rs pointed elsewhere), are each reported.
#[test]
fn wrapper_check_reports_a_planted_gap_in_the_real_sources() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let real = sources(&src);
    // Replaces every `from` in src/`rel`.
    let plant = |rel: &str, from: &str, to: &str| -> Vec<String> {
        let planted: Vec<Source> = real
            .iter()
            .map(|s| Source {
                rel: s.rel.clone(),
                text: if s.rel == rel {
                    assert!(s.text.contains(from), "{from:?} not in src/{rel}");
                    s.text.replace(from, to)
                } else {
                    s.text.clone()
                },
            })
            .collect();
        wrapper_problems(&planted, &call_names()).0
    };
    let p = plant(
        "socket.rs",
        "/// `bind(fd, addr, addrlen)` — give the socket a local address.",
        "/// Give the socket a local address.",
    );
    assert!(
        p.len() == 1 && p[0].contains("fn bind"),
        "a planted missing call shape was not reported alone: {p:?}"
    );
    let p = plant("socket.rs", "man7.org", "example.org");
    assert!(
        p.iter()
            .any(|m| m.contains("type OwnedSocket") && m.contains("man page")),
        "a planted missing man page was not reported: {p:?}"
    );
}

#[test]
fn wrapper_check_tells_wrappers_from_pure_functions() {
    let syscalls: Vec<String> = ["socket", "getsockopt", "bind"].map(String::from).into();
    let src = Source {
        rel: "thing.rs".into(),
        text: "
use crate::sys;

/// A thing.
pub struct Thing;

impl Thing {
    /// `socket(domain, type, protocol)` — make one.
    pub fn new() -> io::Result<Thing> {
        sys::net::socket(1, 2, 3)
    }

    /// Reads its type.
    pub fn kind(&self) -> io::Result<i32> {
        get(self, SO_TYPE)
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_ERROR)` — through a helper.
    pub fn error(&self) -> io::Result<i32> {
        get(self, SO_ERROR)
    }

    /// Pure: no syscall, so no call shape needed.
    pub fn len(&self) -> usize {
        self.map.get(3)
    }

    /// Calls into sys, but nothing there makes a syscall.
    pub fn set(&self) -> FdSet {
        sys::poll::fd_set_new()
    }

    /// `bind` without its arguments.
    pub fn bind(&self) -> io::Result<()> {
        sys::net::bind(self)
    }
}

fn get(t: &Thing, o: i32) -> io::Result<i32> {
    sys::net::getsockopt(t, o)
}
"
        .into(),
    };
    let lib = Source {
        rel: "lib.rs".into(),
        text: "pub mod thing;\nmod sys;\n".into(),
    };
    let sys = Source {
        rel: "sys/net.rs".into(),
        text: "
pub(crate) fn socket(a: i32, b: i32, c: i32) -> io::Result<OwnedFd> {
    run(Syscall::Socket, 0, |_| ret_owned_fd(0))
}

pub(crate) fn getsockopt(t: &Thing, o: i32) -> io::Result<i32> {
    run(Syscall::Getsockopt, 0, |_| ret_int(0))
}

pub(crate) fn bind(t: &Thing) -> io::Result<()> {
    checked_bind(t)
}

fn checked_bind(t: &Thing) -> io::Result<()> {
    enter(Syscall::Bind);
    Ok(())
}

pub(crate) fn fd_set_new() -> FdSet {
    FdSet::default()
}
"
        .into(),
    };
    let (p, wrappers) = wrapper_problems(&[lib, src, sys], &syscalls);
    assert_eq!(wrappers, 4, "{p:?}");
    assert_eq!(p.len(), 4, "{p:?}");
    assert!(p[0].contains("fn kind"), "{p:?}");
    assert!(p[1].contains("fn bind"), "{p:?}");
    assert!(p[2].contains("type Thing"), "{p:?}");
    assert!(p[3].contains("src/thing.rs: a public module"), "{p:?}");
}
