//! The syscall trace (feature `trace`): one line per syscall the crate
//! makes, in strace's own format — the syscall's name as the kernel sees
//! it, its decoded arguments, its result.
//!
//! ```text
//! socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3
//! connect(3, {sa_family=AF_INET, sin_port=htons(41234), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)
//! epoll_wait(4, [{events=EPOLLIN, data={u32=7, u64=7}}], 64, 100) = 1
//! ```
//!
//! Only the syscall layer formats anything: each wrapper in `src/sys/`
//! hands its arguments and result to its `strace!` macro, and no code
//! above it knows the trace exists. Compiled without the feature, the
//! macro expands to nothing: no branch, no field, no code.
//!
//! Compiled in, the trace is off until [`enable`] turns it on or the
//! environment has `BARESOCK_TRACE=1` (read once, at the first syscall).
//! Lines go to stderr unless [`set_sink`] installs a function or a writer,
//! which is how tests capture them.
//!
//! Buffers print as strace prints them: quoted, escaped, cut at 32 bytes
//! with `...`; flags as C names joined by `|`; an error as `-1`, the
//! errno's C name and its message.

use std::fmt::{self, Display, Formatter, Write as _};
use std::io;
use std::mem;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::SockAddr;
use crate::addr::{self, Addr};

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Setting {
    Off,
    On,
    /// Each line starts with the thread id, as `strace -f -o` writes.
    OnWithTid,
}

/// `BARESOCK_TRACE`, read once.
fn env_setting() -> Setting {
    static SETTING: std::sync::OnceLock<Setting> = std::sync::OnceLock::new();
    *SETTING.get_or_init(|| match std::env::var_os("BARESOCK_TRACE") {
        Some(v) if v == "1" => Setting::On,
        Some(v) if v == "tid" => Setting::OnWithTid,
        _ => Setting::Off,
    })
}
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Where trace lines go.
pub enum Sink {
    /// Standard error (the default).
    Stderr,
    /// A function called with each line (without its newline).
    Function(Box<dyn Fn(&str) + Send>),
    /// A writer that gets each line with its newline.
    Writer(Box<dyn io::Write + Send>),
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sink::Stderr => "Sink::Stderr",
            Sink::Function(_) => "Sink::Function(..)",
            Sink::Writer(_) => "Sink::Writer(..)",
        })
    }
}

/// Turns the trace on or off for the whole process, whatever
/// `BARESOCK_TRACE` says.
pub fn enable(on: bool) {
    STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether the trace prints: after [`enable`], its last value; before,
/// whether `BARESOCK_TRACE` is `1` (or `tid`: then each line starts with
/// the thread's id, as `strace -f -o FILE` writes its lines, so the two can
/// be compared thread by thread).
pub fn is_enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = matches!(env_setting(), Setting::On | Setting::OnWithTid);
            // Keep a value enable() stored in the meantime.
            let _ = STATE.compare_exchange(
                UNKNOWN,
                if on { ON } else { OFF },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            STATE.load(Ordering::Relaxed) == ON
        }
    }
}

/// Sends trace lines to `sink` from now on, for every thread.
pub fn set_sink(sink: Sink) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// Prints one line: `name(args) = result`.
pub(crate) fn emit(name: &str, args: fmt::Arguments<'_>, ret: &dyn Ret) {
    let mut line = String::with_capacity(128);
    if env_setting() == Setting::OnWithTid {
        let _ = write!(line, "{} ", thread_id());
    }
    let _ = write!(line, "{name}({args}) = ");
    ret.write(&mut line);
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    match sink.as_mut() {
        None | Some(Sink::Stderr) => {
            line.push('\n');
            let _ = io::Write::write_all(&mut io::stderr().lock(), line.as_bytes());
        }
        Some(Sink::Function(f)) => f(&line),
        Some(Sink::Writer(w)) => {
            line.push('\n');
            let _ = w.write_all(line.as_bytes());
        }
    }
}

/// This thread's id, asked of the kernel once per thread. (The trace's own
/// bookkeeping: not one of the crate's syscalls, so not counted or traced.)
fn thread_id() -> libc::pid_t {
    thread_local! {
        static TID: std::cell::Cell<libc::pid_t> = const { std::cell::Cell::new(0) };
    }
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid takes no arguments and cannot fail.
            t.set(unsafe { libc::gettid() });
        }
        t.get()
    })
}

/// A syscall result as strace prints it after `=`.
pub(crate) trait Ret {
    /// Appends the result.
    fn write(&self, out: &mut String);
}

fn write_err(e: &io::Error, out: &mut String) {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let msg = text.split(" (os error").next().unwrap_or(&text);
            let _ = write!(out, "-1 {} ({msg})", Errno(code));
        }
        None => {
            let _ = write!(out, "-1 ({e})");
        }
    }
}

impl Ret for io::Result<()> {
    fn write(&self, out: &mut String) {
        match self {
            Ok(()) => out.push('0'),
            Err(e) => write_err(e, out),
        }
    }
}

impl Ret for io::Result<usize> {
    fn write(&self, out: &mut String) {
        match self {
            Ok(n) => {
                let _ = write!(out, "{n}");
            }
            Err(e) => write_err(e, out),
        }
    }
}

impl Ret for io::Result<libc::c_int> {
    fn write(&self, out: &mut String) {
        match self {
            Ok(n) => {
                let _ = write!(out, "{n}");
            }
            Err(e) => write_err(e, out),
        }
    }
}

impl Ret for io::Result<OwnedFd> {
    fn write(&self, out: &mut String) {
        match self {
            Ok(fd) => {
                let _ = write!(out, "{}", std::os::fd::AsRawFd::as_raw_fd(fd));
            }
            Err(e) => write_err(e, out),
        }
    }
}

/// A result with a note after it, as strace prints `= 0 (Timeout)` or
/// `= 0x1 (flags FD_CLOEXEC)`.
pub(crate) struct Noted<'a, R: ?Sized>(pub(crate) &'a R, pub(crate) &'a dyn Display);

impl<R: Ret + ?Sized> Ret for Noted<'_, R> {
    fn write(&self, out: &mut String) {
        self.0.write(out);
        let mut note = String::new();
        let _ = write!(note, "{}", self.1);
        if !note.is_empty() {
            let _ = write!(out, " ({note})");
        }
    }
}

/// A value printed by a closure (for one-off shapes).
pub(crate) struct With<F: Fn(&mut Formatter<'_>) -> fmt::Result>(pub(crate) F);

impl<F: Fn(&mut Formatter<'_>) -> fmt::Result> Display for With<F> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// A result printed as strace prints fcntl's F_GETFD / F_GETFL answers.
pub(crate) struct FlagsRet<'a>(
    pub(crate) &'a io::Result<libc::c_int>,
    pub(crate) &'static [(libc::c_int, &'static str)],
);

impl Ret for FlagsRet<'_> {
    fn write(&self, out: &mut String) {
        match self.0 {
            Ok(v) => {
                let _ = write!(out, "{v:#x} (flags {})", Flags(*v, self.1));
            }
            Err(e) => write_err(e, out),
        }
    }
}

// ---- argument shapes ----

/// A buffer as strace shows it: quoted, escaped, cut at 32 bytes.
pub(crate) struct Buf<'a>(pub(crate) &'a [u8]);

impl Display for Buf<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const MAX: usize = 32;
        let shown = &self.0[..self.0.len().min(MAX)];
        f.write_char('"')?;
        for (i, &b) in shown.iter().enumerate() {
            let next_is_digit = shown.get(i + 1).is_some_and(u8::is_ascii_digit);
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                b'\t' => f.write_str("\\t")?,
                b'\n' => f.write_str("\\n")?,
                0x0b => f.write_str("\\v")?,
                0x0c => f.write_str("\\f")?,
                b'\r' => f.write_str("\\r")?,
                0x20..=0x7e => f.write_char(b as char)?,
                _ if next_is_digit => write!(f, "\\{b:03o}")?,
                _ => write!(f, "\\{b:o}")?,
            }
        }
        f.write_char('"')?;
        if self.0.len() > MAX {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// A receive buffer: its bytes when the call filled some, its address
/// otherwise (as strace prints a buffer it could not read).
pub(crate) struct RecvBuf<'a>(pub(crate) Option<&'a [u8]>, pub(crate) *const u8);

impl Display for RecvBuf<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => Buf(b).fmt(f),
            None => write!(f, "{:p}", self.1),
        }
    }
}

/// A set of flags from a table of (value, C name); leftover bits in hex.
pub(crate) struct Flags(
    pub(crate) libc::c_int,
    pub(crate) &'static [(libc::c_int, &'static str)],
);

impl Display for Flags {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut left = self.0;
        let mut first = true;
        for &(bit, name) in self.1 {
            if bit != 0 && left & bit == bit {
                if !first {
                    f.write_char('|')?;
                }
                f.write_str(name)?;
                first = false;
                left &= !bit;
            }
        }
        if left != 0 || first {
            if !first {
                f.write_char('|')?;
            }
            if first && left == 0 {
                f.write_char('0')?;
            } else {
                write!(f, "{left:#x}")?;
            }
        }
        Ok(())
    }
}

/// One value from a table of (value, C name); the number otherwise.
pub(crate) struct Named(
    pub(crate) libc::c_int,
    pub(crate) &'static [(libc::c_int, &'static str)],
);

impl Display for Named {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.1.iter().find(|(v, _)| *v == self.0) {
            Some((_, n)) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A socket address as strace decodes it; `NULL` for none.
pub(crate) struct SockAddrArg<'a>(pub(crate) Option<&'a SockAddr>);

impl Display for SockAddrArg<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let Some(a) = self.0 else {
            return f.write_str("NULL");
        };
        match addr::decode(a.as_bytes()) {
            Ok(Addr::V4(v4)) => write!(
                f,
                "{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{}\")}}",
                v4.port(),
                v4.ip()
            ),
            Ok(Addr::V6(v6)) => write!(
                f,
                "{{sa_family=AF_INET6, sin6_port=htons({}), sin6_flowinfo=htonl({}), inet_pton(AF_INET6, \"{}\", &sin6_addr), sin6_scope_id={}}}",
                v6.port(),
                v6.flowinfo(),
                v6.ip(),
                v6.scope_id()
            ),
            Ok(Addr::UnixPath(p)) => {
                write!(
                    f,
                    "{{sa_family=AF_UNIX, sun_path={}}}",
                    Buf(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
                )
            }
            Ok(Addr::UnixAbstract(n)) => write!(f, "{{sa_family=AF_UNIX, sun_path=@{}}}", Buf(n)),
            Ok(Addr::UnixUnnamed) => f.write_str("{sa_family=AF_UNIX}"),
            Ok(Addr::Other { family, .. }) => {
                write!(f, "{{sa_family={}}}", Named(family.into(), AF))
            }
            Err(_) if a.len() == 0 => f.write_str("{}"),
            Err(_) => write!(f, "{{sa_family={}, ...}}", a.family().map_or(-1, i32::from)),
        }
    }
}

/// An address the kernel filled in, whether the call succeeded, and the
/// length the kernel reported, printed as strace's `[capacity => length]`
/// (the kernel's own length: 111 for a 108-byte Unix path, which the
/// `SockAddr` keeps as 110).
pub(crate) struct SockAddrOut<'a>(
    pub(crate) Option<&'a SockAddr>,
    pub(crate) bool,
    pub(crate) libc::socklen_t,
);

impl Display for SockAddrOut<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (None, _) => f.write_str("NULL, NULL"),
            // Nothing filled in (a TCP socket's recvfrom): strace shows the
            // buffer's address.
            (Some(a), true) if self.2 == 0 => {
                write!(f, "{:p}, [{} => 0]", a.as_ptr(), SockAddr::CAPACITY)
            }
            (Some(a), true) => write!(
                f,
                "{}, [{} => {}]",
                SockAddrArg(Some(a)),
                SockAddr::CAPACITY,
                self.2
            ),
            // The call failed: strace shows the buffer's address.
            (Some(a), false) => write!(f, "{:p}, [{}]", a.as_ptr(), SockAddr::CAPACITY),
        }
    }
}

/// An errno by its C name.
pub(crate) struct Errno(pub(crate) i32);

impl Display for Errno {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Named(self.0, ERRNO).fmt(f)
    }
}

/// A protocol as strace prints socket()'s third argument.
pub(crate) struct Proto(pub(crate) libc::c_int, pub(crate) libc::c_int);

impl Display for Proto {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (domain, proto) = (self.0, self.1);
        if domain == libc::AF_INET || domain == libc::AF_INET6 {
            Named(proto, IPPROTO).fmt(f)
        } else {
            write!(f, "{proto}")
        }
    }
}

/// A socket option's name, by level.
pub(crate) struct OptName(pub(crate) libc::c_int, pub(crate) libc::c_int);

impl Display for OptName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let table = match self.0 {
            libc::SOL_SOCKET => SO,
            libc::IPPROTO_IP => IP,
            libc::IPPROTO_IPV6 => IPV6,
            libc::IPPROTO_TCP => TCP,
            libc::SOL_UDP => UDP,
            _ => &[],
        };
        Named(self.1, table).fmt(f)
    }
}

/// An option value as strace decodes it: an errno name for `SO_ERROR`,
/// the structs of `SO_LINGER` and `SO_PEERCRED`, `[n]` for another int,
/// the bytes otherwise. Fields: level, option name, value bytes.
pub(crate) struct OptVal<'a>(
    pub(crate) libc::c_int,
    pub(crate) libc::c_int,
    pub(crate) &'a [u8],
);

impl Display for OptVal<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (level, name, b) = (self.0, self.1, self.2);
        let int = |at: usize| i32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        match (level, name, b.len()) {
            (libc::SOL_SOCKET, libc::SO_ERROR, 4) => write!(f, "[{}]", Errno(int(0))),
            (libc::SOL_SOCKET, libc::SO_LINGER, 8) => {
                write!(f, "{{l_onoff={}, l_linger={}}}", int(0), int(4))
            }
            (libc::SOL_SOCKET, libc::SO_PEERCRED, 12) => write!(
                f,
                "{{pid={}, uid={}, gid={}}}",
                int(0),
                int(4) as u32,
                int(8) as u32
            ),
            (_, _, 4) => write!(f, "[{}]", int(0)),
            _ => Buf(b).fmt(f),
        }
    }
}

/// A CPU mask as strace prints it: the CPUs set in its first `bytes`
/// bytes (whole words), `[0 1 5]`.
pub(crate) struct CpuMask<'a>(pub(crate) &'a [libc::c_ulong], pub(crate) usize);

impl Display for CpuMask<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let bits = libc::c_ulong::BITS as usize;
        let words = (self.1 / mem::size_of::<libc::c_ulong>()).min(self.0.len());
        f.write_str("[")?;
        let mut first = true;
        for (w, &word) in self.0[..words].iter().enumerate() {
            for b in 0..bits {
                if word & (1 << b) != 0 {
                    if !first {
                        f.write_str(" ")?;
                    }
                    first = false;
                    write!(f, "{}", w * bits + b)?;
                }
            }
        }
        f.write_str("]")
    }
}

/// A value-result length as strace prints it: `[n]`, or `[in => out]` when
/// the kernel changed it.
pub(crate) struct LenInOut(pub(crate) libc::socklen_t, pub(crate) libc::socklen_t);

impl Display for LenInOut {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0 == self.1 {
            write!(f, "[{}]", self.0)
        } else {
            write!(f, "[{} => {}]", self.0, self.1)
        }
    }
}

macro_rules! table {
    ($name:ident: $($c:ident $(as $shown:literal)?),* $(,)?) => {
        pub(crate) const $name: &[(libc::c_int, &str)] =
            &[$((libc::$c as libc::c_int, table!(@name $c $($shown)?))),*];
    };
    (@name $c:ident) => { stringify!($c) };
    (@name $c:ident $shown:literal) => { $shown };
}

table!(AF: AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET);
table!(SOCK_TYPE: SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET);
table!(SOCK_FLAGS: SOCK_CLOEXEC, SOCK_NONBLOCK);
table!(IPPROTO: IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPV6, IPPROTO_RAW);
table!(LEVEL: SOL_SOCKET, SOL_IP, SOL_IPV6, SOL_TCP, SOL_UDP);
table!(SO: SO_DEBUG, SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_DONTROUTE, SO_BROADCAST, SO_SNDBUF, SO_RCVBUF,
    SO_KEEPALIVE, SO_OOBINLINE, SO_LINGER, SO_REUSEPORT, SO_PASSCRED, SO_PEERCRED, SO_RCVLOWAT,
    SO_SNDLOWAT, SO_RCVTIMEO as "SO_RCVTIMEO_OLD", SO_SNDTIMEO as "SO_SNDTIMEO_OLD", SO_BINDTODEVICE,
    SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN, SO_TIMESTAMPNS as "SO_TIMESTAMPNS_OLD", SO_MARK,
    SO_ATTACH_FILTER, SO_DETACH_FILTER, SO_INCOMING_CPU, SO_ATTACH_REUSEPORT_CBPF,
    SO_DETACH_REUSEPORT_BPF);
table!(IP: IP_TOS, IP_TTL, IP_PKTINFO, IP_RECVERR, IP_RECVTTL, IP_RECVTOS, IP_MULTICAST_IF,
    IP_MULTICAST_TTL, IP_MULTICAST_LOOP, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP);
table!(IPV6: IPV6_UNICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP,
    IPV6_ADD_MEMBERSHIP, IPV6_DROP_MEMBERSHIP, IPV6_V6ONLY, IPV6_RECVERR, IPV6_RECVPKTINFO,
    IPV6_PKTINFO, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT, IPV6_RECVTCLASS, IPV6_TCLASS);
table!(TCP: TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_INFO, TCP_USER_TIMEOUT);
table!(UDP: UDP_SEGMENT, UDP_GRO);
table!(MSG: MSG_OOB, MSG_PEEK, MSG_DONTROUTE, MSG_CTRUNC, MSG_TRUNC, MSG_DONTWAIT, MSG_EOR,
    MSG_WAITALL, MSG_NOSIGNAL, MSG_MORE, MSG_ERRQUEUE, MSG_CMSG_CLOEXEC, MSG_WAITFORONE);
table!(SHUT: SHUT_RD, SHUT_WR, SHUT_RDWR);
table!(FD_FLAGS: FD_CLOEXEC);
table!(O_FLAGS: O_RDWR, O_WRONLY, O_NONBLOCK, O_APPEND);
table!(EPOLL_OP: EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL);
table!(EPOLL_EV: EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDNORM, EPOLLRDBAND,
    EPOLLWRNORM, EPOLLWRBAND, EPOLLMSG, EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET);
table!(POLL_EV: POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLRDBAND,
    POLLWRNORM, POLLWRBAND, POLLRDHUP);
table!(EFD: EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE);
table!(SIG_HOW: SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK);
table!(SIGNALS: SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1,
    SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU,
    SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS);
table!(ERRNO: EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, ENOEXEC, EBADF, ECHILD, EAGAIN, ENOMEM,
    EACCES, EFAULT, EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR, EISDIR, EINVAL, ENFILE, EMFILE, ENOTTY,
    EFBIG, ENOSPC, ESPIPE, EROFS, EMLINK, EPIPE, EDOM, ERANGE, EDEADLK, ENAMETOOLONG, ENOLCK, ENOSYS,
    ENOTEMPTY, ELOOP, ENOMSG, EIDRM, ENOSTR, ENODATA, ETIME, ENOSR, EREMOTE, ENOLINK, EPROTO,
    EMULTIHOP, EBADMSG, EOVERFLOW, EILSEQ, EUSERS, ENOTSOCK, EDESTADDRREQ, EMSGSIZE, EPROTOTYPE,
    ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT, EOPNOTSUPP, EPFNOSUPPORT, EAFNOSUPPORT,
    EADDRINUSE, EADDRNOTAVAIL, ENETDOWN, ENETUNREACH, ENETRESET, ECONNABORTED, ECONNRESET, ENOBUFS,
    EISCONN, ENOTCONN, ESHUTDOWN, ETOOMANYREFS, ETIMEDOUT, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH,
    EALREADY, EINPROGRESS, ESTALE, EDQUOT, ECANCELED, EOWNERDEAD, ENOTRECOVERABLE);

/// How many elements of an array strace prints before `...` (its default
/// `-s 32` limits arrays as well as strings).
const MAX_ELEMENTS: usize = 32;

/// The poll entries as strace prints poll's first argument: a negative fd
/// (an entry the kernel skips) without its events, and `...` after 32.
pub(crate) struct PollFds<'a>(pub(crate) &'a [libc::pollfd]);

impl Display for PollFds<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if i == MAX_ELEMENTS {
                f.write_str("...")?;
                break;
            }
            if p.fd < 0 {
                write!(f, "{{fd={}}}", p.fd)?;
            } else {
                write!(
                    f,
                    "{{fd={}, events={}}}",
                    p.fd,
                    Flags(p.events.into(), POLL_EV)
                )?;
            }
        }
        f.write_char(']')
    }
}

/// poll's result detail: the entries with revents, or `Timeout`. As strace
/// builds it: at most 32 entries, in a 1024-byte buffer that ends with
/// `...` when the next entry would not leave room for the rest.
pub(crate) struct PollRevents<'a>(
    pub(crate) &'a io::Result<usize>,
    pub(crate) &'a [libc::pollfd],
);

impl Display for PollRevents<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // strace's outstr[1024], less room for an address and ", ], ...".
        const ROOM: usize = 1024 - (2 + 2 * std::mem::size_of::<libc::c_long>() + 9);
        match self.0 {
            Ok(0) => f.write_str("Timeout"),
            Ok(_) => {
                let mut out = String::new();
                for (printed, p) in self.1.iter().filter(|p| p.revents != 0).enumerate() {
                    out.push_str(if out.is_empty() { "[" } else { ", " });
                    if printed == MAX_ELEMENTS {
                        out.push_str("...");
                        break;
                    }
                    let fd = format!("{{fd={}, revents=", p.fd);
                    let flags = Flags(p.revents.into(), POLL_EV).to_string();
                    if out.len() + fd.len() + flags.len() + 1 >= ROOM {
                        out.push_str("...");
                        break;
                    }
                    let _ = write!(out, "{fd}{flags}}}");
                }
                if !out.is_empty() {
                    out.push(']');
                }
                f.write_str(&out)
            }
            Err(_) => Ok(()),
        }
    }
}

/// epoll events as strace prints epoll_wait's second argument: `...`
/// after 32.
pub(crate) struct EpollEvents<'a>(pub(crate) &'a [libc::epoll_event]);

impl Display for EpollEvents<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if i == MAX_ELEMENTS {
                f.write_str("...")?;
                break;
            }
            let (events, data) = (e.events, e.u64);
            write!(f, "{}", EpollEvent(events, data))?;
        }
        f.write_char(']')
    }
}

/// One epoll_event: `{events=..., data={u32=.., u64=..}}`.
pub(crate) struct EpollEvent(pub(crate) u32, pub(crate) u64);

impl Display for EpollEvent {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{events={}, data={{u32={}, u64={}}}}}",
            Flags(self.0 as libc::c_int, EPOLL_EV),
            self.1 as u32,
            self.1
        )
    }
}

/// A select set as strace prints it: `[3 5 9]`.
pub(crate) fn fd_list(out: &mut String, nfds: usize, contains: impl Fn(usize) -> bool) {
    out.push('[');
    let mut first = true;
    for fd in (0..nfds).filter(|&fd| contains(fd)) {
        if !first {
            out.push(' ');
        }
        first = false;
        let _ = write!(out, "{fd}");
    }
    out.push(']');
}

/// A timeout as strace prints a timespec; `NULL` for none. Seconds and
/// nanoseconds, whatever the struct's field widths (libc's timespec, or
/// the kernel's 64-bit `__kernel_timespec`).
pub(crate) struct Timespec(pub(crate) Option<(i64, i64)>);

impl Timespec {
    /// libc's timespec, widened (a no-op on 64-bit targets).
    #[allow(clippy::useless_conversion)]
    pub(crate) fn of(ts: &libc::timespec) -> Timespec {
        Timespec(Some((ts.tv_sec.into(), ts.tv_nsec.into())))
    }
}

impl Display for Timespec {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("NULL"),
            Some((sec, nsec)) => write!(f, "{{tv_sec={sec}, tv_nsec={nsec}}}"),
        }
    }
}

/// select's timeval as strace prints it (pselect6 takes a timespec).
pub(crate) struct Timeval(pub(crate) Option<libc::timeval>);

impl Display for Timeval {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("NULL"),
            Some(tv) => write!(
                f,
                "{{tv_sec={}, tv_nsec={}}}",
                tv.tv_sec,
                i128::from(tv.tv_usec) * 1000
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_escape_as_strace_does() {
        assert_eq!(Buf(b"hello").to_string(), "\"hello\"");
        assert_eq!(Buf(b"\n\0\0\x08\0").to_string(), "\"\\n\\0\\0\\10\\0\"");
        assert_eq!(Buf(b"\x001").to_string(), "\"\\0001\"");
        assert_eq!(
            Buf(&[b'a'; 40]).to_string(),
            format!("\"{}\"...", "a".repeat(32))
        );
        assert_eq!(Buf(b"\"\\").to_string(), "\"\\\"\\\\\"");
    }

    #[test]
    fn cpu_masks_list_the_cpus_in_the_bytes_written() {
        let bits = libc::c_ulong::BITS as usize;
        let mut m = [0 as libc::c_ulong; 1024 / libc::c_ulong::BITS as usize];
        m[0] = 0b11;
        m[100 / bits] |= 1 << (100 % bits);
        assert_eq!(CpuMask(&m, 128).to_string(), "[0 1 100]");
        // Only what the kernel wrote: one word.
        let word = mem::size_of::<libc::c_ulong>();
        assert_eq!(CpuMask(&m, word).to_string(), "[0 1]");
        assert_eq!(CpuMask(&[0; 16], 128).to_string(), "[]");
    }

    #[test]
    fn flags_join_with_bars() {
        let f = libc::SOCK_STREAM;
        assert_eq!(Named(f, SOCK_TYPE).to_string(), "SOCK_STREAM");
        assert_eq!(
            Flags(libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT, MSG).to_string(),
            "MSG_DONTWAIT|MSG_NOSIGNAL"
        );
        assert_eq!(Flags(0, MSG).to_string(), "0");
        assert_eq!(
            Flags(libc::MSG_PEEK | 0x1000_0000, MSG).to_string(),
            "MSG_PEEK|0x10000000"
        );
        assert_eq!(Errno(libc::ECONNREFUSED).to_string(), "ECONNREFUSED");
    }

    #[test]
    fn options_decode_as_strace_does() {
        let ints = |v: &[i32]| v.iter().flat_map(|i| i.to_ne_bytes()).collect::<Vec<u8>>();
        let so = libc::SOL_SOCKET;
        let err = ints(&[libc::ECONNREFUSED]);
        assert_eq!(
            OptVal(so, libc::SO_ERROR, &err).to_string(),
            "[ECONNREFUSED]"
        );
        assert_eq!(OptVal(so, libc::SO_ERROR, &ints(&[0])).to_string(), "[0]");
        assert_eq!(
            OptVal(so, libc::SO_LINGER, &ints(&[1, 0])).to_string(),
            "{l_onoff=1, l_linger=0}"
        );
        assert_eq!(
            OptVal(so, libc::SO_PEERCRED, &ints(&[42, 1000, 100])).to_string(),
            "{pid=42, uid=1000, gid=100}"
        );
        assert_eq!(
            OptVal(so, libc::SO_REUSEADDR, &ints(&[1])).to_string(),
            "[1]"
        );
        assert_eq!(
            OptVal(so, libc::SO_RCVTIMEO, &[5, 0]).to_string(),
            "\"\\5\\0\""
        );
        assert_eq!(
            OptName(so, libc::SO_RCVTIMEO).to_string(),
            "SO_RCVTIMEO_OLD"
        );
        assert_eq!(OptName(so, libc::SO_TYPE).to_string(), "SO_TYPE");
        assert_eq!(LenInOut(4, 4).to_string(), "[4]");
        assert_eq!(LenInOut(16, 4).to_string(), "[16 => 4]");
    }

    #[test]
    fn arrays_stop_after_32_as_strace_does() {
        let pfd = |fd, revents| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents,
        };
        // A negative fd (a disarmed entry) prints without its events.
        assert_eq!(
            PollFds(&[pfd(3, 0), pfd(-8, 0)]).to_string(),
            "[{fd=3, events=POLLIN}, {fd=-8}]"
        );
        let many: Vec<libc::pollfd> = (0..40).map(|fd| pfd(fd, libc::POLLIN)).collect();
        let args = PollFds(&many).to_string();
        assert!(args.ends_with("{fd=31, events=POLLIN}, ...]"), "{args}");
        let ok = Ok(40);
        let result = PollRevents(&ok, &many).to_string();
        // 32 entries of 25 bytes fit in strace's buffer: the cut is the
        // count's.
        assert!(
            result.ends_with("{fd=31, revents=POLLIN}, ...]"),
            "{result}"
        );
        assert_eq!(PollRevents(&Ok(0), &many).to_string(), "Timeout");
        let long: Vec<libc::pollfd> = (0..40)
            .map(|fd| pfd(fd, libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP))
            .collect();
        let result = PollRevents(&ok, &long).to_string();
        // 43-byte entries: strace's 1024-byte buffer ends it first.
        assert!(
            result.len() < 1024 && result.ends_with(", ...]"),
            "{result}"
        );
        let events: Vec<libc::epoll_event> = (0..33)
            .map(|i| libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i,
            })
            .collect();
        let shown = EpollEvents(&events).to_string();
        assert!(
            shown.ends_with("{events=EPOLLIN, data={u32=31, u64=31}}, ...]"),
            "{shown}"
        );
        assert!(!EpollEvents(&events[..32]).to_string().contains("..."));
    }

    #[test]
    fn addresses_decode_as_strace_does() {
        let a = SockAddr::from("127.0.0.1:41234".parse::<std::net::SocketAddr>().unwrap());
        assert_eq!(
            SockAddrArg(Some(&a)).to_string(),
            "{sa_family=AF_INET, sin_port=htons(41234), sin_addr=inet_addr(\"127.0.0.1\")}"
        );
        assert_eq!(
            SockAddrArg(Some(&SockAddr::unix_unnamed())).to_string(),
            "{sa_family=AF_UNIX}"
        );
        assert_eq!(SockAddrArg(None).to_string(), "NULL");
    }
}
