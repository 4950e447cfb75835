//! The replay both corpus test binaries share: libfuzzer-sys's
//! `fuzz_target!` as a plain function, and the loop over a corpus. The
//! including file declares this module after the targets (see the macro).

/// What libfuzzer-sys's macro is for these targets: the body as a
/// function of the input bytes. Defined after the targets, so they reach
/// it by their `use libfuzzer_sys::fuzz_target` (by path, as
/// `#[macro_export]` allows anywhere), not by textual scope.
#[macro_export]
macro_rules! fuzz_target {
    (|$data:ident: &[u8]| $body:block) => {
        pub fn run($data: &[u8]) $body
    };
}

/// Runs `run` on every file of the target's corpus (there must be some),
/// each in `catch_unwind`, and fails naming the inputs that panicked.
pub fn replay(name: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: an empty corpus", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} inputs failed: {failed:#?}",
        failed.len(),
        files.len()
    );
    println!("{name}: {} inputs replayed", files.len());
}
