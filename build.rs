//! Turns the target into capability cfgs. It reads only the target
//! description cargo hands us (CARGO_CFG_*), never the build machine's
//! kernel: a cross build must not depend on the host.
//!
//! Linux is the one platform we build and test; the cfgs name what the code
//! relies on, so a port later knows where to look.
//!
//! One exception, and it never touches the library: `has_strace` and
//! `has_systemd_socket_activate` say whether the *build host* has that
//! program on PATH. Only tests read them, as
//! `#[cfg_attr(not(has_strace), ignore = "needs strace")]`, so a test that
//! runs the tool shows as ignored with its reason on a machine without it
//! (stable libtest cannot ignore a test at run time, and an early return
//! would count as a pass). Tests run on the build host, so asking the host
//! is right for them; the library's cfgs above still come only from
//! CARGO_CFG_*.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // One clear message, and nothing compiled after it, for every target
    // but Linux with glibc or musl. Android is refused too: bionic differs
    // from both in exactly the types and wrappers the crate depends on,
    // and nothing here builds or runs it.
    if os != "linux" || !(env == "gnu" || env == "musl") {
        eprintln!(
            "error: baresock supports Linux with glibc or musl only; this target is target_os=\"{os}\", target_env=\"{env}\": other systems are not supported"
        );
        std::process::exit(1);
    }
    let linux_like = os == "linux" || os == "android";

    // (cfg name, present on this target?)
    let caps = [
        // epoll_create1, epoll_ctl, epoll_wait, epoll_pwait2
        ("baresock_epoll", linux_like),
        // accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK
        (
            "baresock_accept4",
            linux_like || os == "freebsd" || os == "netbsd" || os == "openbsd",
        ),
        // sendmmsg / recvmmsg
        (
            "baresock_mmsg",
            linux_like || os == "freebsd" || os == "netbsd",
        ),
        // Unix sockets in the abstract namespace (sun_path[0] == 0)
        ("baresock_abstract_unix", linux_like),
        // SOCK_CLOEXEC / SOCK_NONBLOCK accepted in socket()'s type argument
        (
            "baresock_sock_flags",
            linux_like || os == "freebsd" || os == "netbsd" || os == "openbsd",
        ),
        // eventfd, timerfd, signalfd
        ("baresock_linux_fds", linux_like),
        // MSG_NOSIGNAL on send (macOS needs SO_NOSIGPIPE instead)
        ("baresock_msg_nosignal", os != "macos" && os != "ios"),
        // glibc: select() is pselect6 in the kernel
        ("baresock_glibc", env == "gnu"),
    ];
    for (name, _) in caps {
        println!("cargo::rustc-check-cfg=cfg({name})");
    }
    for (name, present) in caps {
        if present {
            println!("cargo::rustc-cfg={name}");
        }
    }
    host_tools();
    qemu_user();
    // The triple, for tests that build an example themselves: a cross run
    // must build the target's example, never the host's.
    println!(
        "cargo::rustc-env=BARESOCK_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    if !linux_like {
        println!(
            "cargo::warning=baresock is built and tested on Linux only; target_os={os} lacks capabilities the code relies on"
        );
    }
}

/// The build host's tools that tests run, each with the cfg that says it is
/// on PATH. Tests only: see the module docs.
const HOST_TOOLS: [(&str, &str); 2] = [
    ("strace", "has_strace"),
    ("systemd-socket-activate", "has_systemd_socket_activate"),
];

/// Emits a cfg for each tool in HOST_TOOLS found on PATH, and asks cargo
/// to run this script again when PATH changes or when a file is added to
/// or removed from a PATH directory (that changes the directory's mtime),
/// so a tool installed later is noticed without a clean build. With no
/// change, nothing reruns and nothing rebuilds.
fn host_tools() {
    println!("cargo::rerun-if-env-changed=PATH");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    for dir in std::env::split_paths(&path) {
        // An empty entry means the current directory; a relative one moves
        // with it. Neither is a place a tool is installed.
        if dir.is_absolute() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in &dirs {
        // A directory that does not exist (yet) would make cargo rerun this
        // script on every build; one created later changes PATH's meaning
        // only if it is then given a tool, which a PATH edit or a rerun of
        // a present directory will not see. Rare, and `cargo clean -p
        // baresock` fixes it.
        if dir.is_dir() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    for (tool, cfg) in HOST_TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if dirs.iter().any(|d| is_executable(&d.join(tool))) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// A regular file (after symlinks) that someone may execute.
fn is_executable(path: &std::path::Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Tests only, like `host_tools`: `qemu_user` when the target's binaries
/// cannot run natively on the build host, so its tests run under
/// qemu-user (scripts/qemu-test). Tests that need what qemu-user 7.2 does
/// not emulate (some socket options and control messages, epoll_pwait2,
/// strace of the target's own syscalls) say so as their ignore reason,
/// `#[cfg_attr(qemu_user, ignore = "qemu-user: ...")]`. x86_64 hosts run
/// i686 binaries natively.
fn qemu_user() {
    println!("cargo::rustc-check-cfg=cfg(qemu_user)");
    let host = std::env::var("HOST").unwrap_or_default();
    let host_arch = host.split('-').next().unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let native = arch == host_arch || (host_arch == "x86_64" && arch == "x86");
    if !native {
        println!("cargo::rustc-cfg=qemu_user");
    }
}
