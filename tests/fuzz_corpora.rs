//! Replays every fuzz target's committed corpus (`fuzz/corpus/TARGET/`)
//! through the target's own body, without libFuzzer: on every target the
//! crate builds for, including those cargo-fuzz cannot build for (i686,
//! musl, and aarch64 and s390x under qemu-user), where word size,
//! alignment and byte order are exactly what the codecs must get right.
//!
//! Each file in `fuzz/fuzz_targets/` is included as a module as it is.
//! Its `use libfuzzer_sys::fuzz_target;` finds this crate's own
//! `fuzz_target!` (the `extern crate self as libfuzzer_sys` below puts
//! this crate in the extern prelude under that name), which turns the
//! target's closure into a plain `run(data)` function. Every input
//! replays; a failing one is named by its file.
//!
//! `backends_differential` drives live sockets and reads the process's fd
//! table, rlimit and signal mask: it replays in a binary of its own,
//! tests/fuzz_corpus_backends.rs.

// The targets' own unsafe blocks (with their SAFETY comments), as in the
// fuzz crate.
#![allow(unsafe_code)]
// Each target includes fuzz/oracle as it does in its own fuzz binary.
#![allow(clippy::duplicate_mod)]

extern crate self as libfuzzer_sys;

macro_rules! targets {
    ($($name:ident: $path:literal),* $(,)?) => {
        $(
            #[allow(unused_attributes)] // the target's #![no_main]
            #[path = $path]
            mod $name;

            #[test]
            fn $name() {
                fuzz_replay::replay(stringify!($name), $name::run);
            }
        )*
        /// The targets replayed here; backends_differential has a binary
        /// of its own (tests/fuzz_corpus_backends.rs).
        const TARGETS: &[&str] = &[$(stringify!($name)),*];
    };
}

// #[path] takes a literal only: each name with its file.
targets!(
    activation_env: "../fuzz/fuzz_targets/activation_env.rs",
    cmsg_parse: "../fuzz/fuzz_targets/cmsg_parse.rs",
    cmsg_roundtrip: "../fuzz/fuzz_targets/cmsg_roundtrip.rs",
    opt_decode: "../fuzz/fuzz_targets/opt_decode.rs",
    readiness: "../fuzz/fuzz_targets/readiness.rs",
    sockaddr_decode: "../fuzz/fuzz_targets/sockaddr_decode.rs",
    sockaddr_roundtrip: "../fuzz/fuzz_targets/sockaddr_roundtrip.rs",
    source_decode: "../fuzz/fuzz_targets/source_decode.rs",
);

#[test]
fn every_fuzz_target_is_replayed() {
    let mut on_disk: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/fuzz_targets"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
    on_disk.sort();
    let mut listed: Vec<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    listed.push("backends_differential".to_owned());
    listed.sort();
    assert_eq!(on_disk, listed, "fuzz targets not replayed here");
}

// After the targets: see fuzz_replay's macro.
mod fuzz_replay;
