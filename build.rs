//! Turns the target into capability cfgs. It reads only the target
//! description cargo hands us (CARGO_CFG_*), never the build machine's
//! kernel: a cross build must not depend on the host.
//!
//! Linux is the one platform we build and test; the cfgs name what the code
//! relies on, so a port later knows where to look.

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
    if !linux_like {
        println!(
            "cargo::warning=baresock is built and tested on Linux only; target_os={os} lacks capabilities the code relies on"
        );
    }
}
