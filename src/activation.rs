//! systemd socket activation: adopt the listening sockets a service
//! manager opened for us (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`).
//!
//! The manager (systemd, or `systemd-socket-activate` for a test) binds and
//! listens, then starts the daemon with the sockets as fds 3, 4, ... and
//! three environment variables: `LISTEN_PID` (the pid the fds are meant
//! for), `LISTEN_FDS` (how many) and, optionally, `LISTEN_FDNAMES` (one name
//! per fd, separated by `:`). [`listen_fds`] checks all of it and hands back
//! each fd as an [`OwnedSocket`], close-on-exec, with what the kernel says
//! it is (`SO_TYPE`, `SO_DOMAIN`, `SO_ACCEPTCONN`, `getsockname`).
//!
//! The other side of the protocol is here too: [`spawn_with_listeners`]
//! starts a program the way a service manager would, with sockets of this
//! process at its fds 3, 4, ... and the three variables set for it. A
//! daemon hands its listeners to its own new binary that way (a live
//! upgrade), and the new one adopts them with [`listen_fds`].
//!
//! # References
//! [sd_listen_fds(3)](https://www.freedesktop.org/software/systemd/man/latest/sd_listen_fds.html),
//! [systemd-socket-activate(1)](https://www.freedesktop.org/software/systemd/man/latest/systemd-socket-activate.html),
//! [sd_listen_fds(3) on man7](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html),
//! [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html),
//! [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html),
//! [getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html),
//! [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html),
//! [pipe2(2)](https://man7.org/linux/man-pages/man2/pipe2.2.html),
//! [dup3(2)](https://man7.org/linux/man-pages/man2/dup3.2.html),
//! [execve(2)](https://man7.org/linux/man-pages/man2/execve.2.html),
//! [wait4(2)](https://man7.org/linux/man-pages/man2/wait4.2.html),
//! [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html)
// Borrowing and adopting the inherited fds 3.. is the unsafe part: the
// activation protocol, LISTEN_PID and a once-only guard make it sound.
#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Domain, OwnedSocket, SockAddr, Type, sys};

/// The first fd a service manager passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// More fds than any manager passes: a `LISTEN_FDS` above it is refused as
/// garbage rather than probed fd by fd.
pub const MAX_LISTEN_FDS: usize = 4096;

static TAKEN: AtomicBool = AtomicBool::new(false);

/// A socket handed over by the service manager.
#[derive(Debug)]
pub struct ActivatedSocket {
    /// The socket, now owned by this process and close-on-exec.
    pub socket: OwnedSocket,
    /// Its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`), or
    /// `"unknown"` when the variable is absent, as systemd does.
    pub name: String,
    /// `SO_TYPE`.
    pub ty: Type,
    /// `SO_DOMAIN`.
    pub domain: Domain,
    /// `SO_ACCEPTCONN`: a listening stream socket.
    pub listening: bool,
    /// `getsockname`.
    pub local_addr: SockAddr,
}

/// What the environment says, parsed but not yet checked against the fds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenEnv<'a> {
    /// How many fds, from `LISTEN_FDS`.
    pub count: usize,
    /// The names from `LISTEN_FDNAMES`, if set.
    pub names: Option<Vec<&'a str>>,
}

/// Why the activation variables were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvError {
    /// `LISTEN_PID` is not a positive decimal number.
    BadPid(String),
    /// `LISTEN_FDS` is missing while `LISTEN_PID` names us.
    MissingFds,
    /// `LISTEN_FDS` is not a decimal number in `0..=MAX_LISTEN_FDS`.
    BadFds(String),
    /// `LISTEN_FDNAMES` does not hold one name per fd.
    NameCount {
        /// `LISTEN_FDS`.
        fds: usize,
        /// Names found.
        names: usize,
    },
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::BadPid(v) => write!(f, "LISTEN_PID={v:?} is not a pid"),
            EnvError::MissingFds => {
                write!(f, "LISTEN_PID names this process but LISTEN_FDS is not set")
            }
            EnvError::BadFds(v) => write!(
                f,
                "LISTEN_FDS={v:?} is not a count of 0 to {MAX_LISTEN_FDS}"
            ),
            EnvError::NameCount { fds, names } => {
                write!(f, "LISTEN_FDNAMES has {names} names for LISTEN_FDS={fds}")
            }
        }
    }
}

impl std::error::Error for EnvError {}

impl From<EnvError> for io::Error {
    fn from(e: EnvError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    // Plain decimal digits only: no sign, no spaces, no "0x" (an empty
    // string has no digit and fails the parse). Any number of leading
    // zeros, as systemd's parse_pid reads them; a value past u64 fails.
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the three variables, a pure function (no syscall, no
/// environment access) so tests and fuzzers can drive it.
///
/// `Ok(None)`: not activated for this process (`LISTEN_PID` unset or
/// another process's pid: the variables were inherited, as
/// `sd_listen_fds` treats it).
///
/// # Errors
///
/// [`EnvError`] for a malformed or inconsistent value.
pub fn parse_env<'a>(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&'a str>,
    my_pid: u32,
) -> Result<Option<ListenEnv<'a>>, EnvError> {
    let Some(pid) = listen_pid else {
        return Ok(None);
    };
    let pid = parse_decimal(pid)
        .filter(|&p| p > 0)
        .ok_or_else(|| EnvError::BadPid(pid.to_owned()))?;
    if pid != u64::from(my_pid) {
        return Ok(None);
    }
    let fds = listen_fds.ok_or(EnvError::MissingFds)?;
    let count = parse_decimal(fds)
        .filter(|&n| n <= MAX_LISTEN_FDS as u64)
        .ok_or_else(|| EnvError::BadFds(fds.to_owned()))? as usize;
    let names = listen_fdnames.map(|n| {
        if n.is_empty() {
            Vec::new()
        } else {
            n.split(':').collect::<Vec<_>>()
        }
    });
    if let Some(names) = &names {
        if names.len() != count {
            return Err(EnvError::NameCount {
                fds: count,
                names: names.len(),
            });
        }
    }
    Ok(Some(ListenEnv { count, names }))
}

/// `fcntl(fd, F_GETFD)`, `getsockopt(fd, SOL_SOCKET, SO_TYPE)` and
/// friends, `getsockname`, `fcntl(fd, F_SETFD, FD_CLOEXEC)` for each fd —
/// take the sockets the service manager passed to this process.
///
/// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`; if they are
/// meant for this process, checks every fd from 3 on is open
/// (`fcntl(F_GETFD)`) and is a socket (`getsockopt(SO_TYPE)`), reads its
/// domain, listening state and address, sets close-on-exec (the manager
/// passes the fds without it), and adopts it. Returns an empty list when
/// the process was not socket-activated.
///
/// Only the first call adopts the fds: later calls fail with
/// `AlreadyExists`, so no fd gets two owners. The variables stay set;
/// [`unset_env`] clears them.
///
/// # Errors
///
/// - `InvalidData`: malformed or inconsistent variables ([`EnvError`]).
/// - `EBADF`: an fd the variables promise is not open.
/// - `ENOTSOCK`: an fd the variables promise is not a socket.
/// - `AlreadyExists`: the fds were already taken by an earlier call.
///
/// No fd is adopted unless all of them check out and are close-on-exec:
/// on an error no fd is owned or closed (close-on-exec may already be set
/// on some), so a bad environment never leads to closing an fd the process
/// uses for something else, and a retry finds the same fds.
pub fn listen_fds() -> io::Result<Vec<ActivatedSocket>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let Some(env) = parse_env(
        pid.as_deref(),
        fds.as_deref(),
        names.as_deref(),
        std::process::id(),
    )?
    else {
        return Ok(Vec::new());
    };
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "socket-activation fds were already taken",
        ));
    }
    let result = adopt_all(&env);
    if result.is_err() {
        // Nothing was adopted: let a fixed environment try again.
        TAKEN.store(false, Ordering::Release);
    }
    result
}

struct Checked {
    ty: Type,
    domain: Domain,
    listening: bool,
    local_addr: SockAddr,
}

fn check(fd: BorrowedFd<'_>) -> io::Result<Checked> {
    let ty = sys::net::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_TYPE)?.0;
    let domain = sys::net::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?.0;
    let listening =
        sys::net::getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)?.0 != 0;
    let local_addr = sys::net::getsockname(fd)?;
    Ok(Checked {
        ty: Type::from(ty),
        domain: Domain::from(domain),
        listening,
        local_addr,
    })
}

fn adopt_all(env: &ListenEnv<'_>) -> io::Result<Vec<ActivatedSocket>> {
    // Check every fd before adopting any.
    let mut checked = Vec::with_capacity(env.count);
    for i in 0..env.count {
        let raw = LISTEN_FDS_START + i as RawFd;
        sys::poll::fcntl_getfd_raw(raw)?;
        // SAFETY: F_GETFD just showed `raw` is open, and nothing in this
        // function closes it while the borrow lives.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        checked.push(check(fd)?);
    }
    // Make each close-on-exec while still only borrowed: if this fails, no
    // fd has an owner yet, so none is closed. (Adopting first and failing
    // would close the fds adopted so far, and the caller's retry would
    // adopt numbers that may by then name other files.)
    for i in 0..env.count {
        let raw = LISTEN_FDS_START + i as RawFd;
        // SAFETY: F_GETFD above showed `raw` is open, and nothing in this
        // function closes it while the borrow lives.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let flags = sys::net::fcntl_getfd(fd)?;
        sys::net::fcntl_setfd(fd, flags | libc::FD_CLOEXEC)?;
    }
    // Nothing below can fail.
    let mut out = Vec::with_capacity(env.count);
    for (i, c) in checked.into_iter().enumerate() {
        let raw = LISTEN_FDS_START + i as RawFd;
        // SAFETY: LISTEN_PID names this process, so the manager passed fds
        // 3..3+LISTEN_FDS to us and nothing else owns them; each is open and
        // a socket (checked above); the TAKEN guard makes this the only
        // adoption in the process's life.
        let socket = unsafe { OwnedSocket::from_raw_fd(raw) };
        let name = env.names.as_ref().map_or("unknown", |n| n[i]).to_owned();
        out.push(ActivatedSocket {
            socket,
            name,
            ty: c.ty,
            domain: c.domain,
            listening: c.listening,
            local_addr: c.local_addr,
        });
    }
    Ok(out)
}

/// Removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` from the
/// environment, so child processes do not think the sockets are theirs.
///
/// # Safety
///
/// Changing the environment is not thread-safe (edition 2024 makes
/// `std::env::remove_var` unsafe): call this while no other thread reads
/// or writes the environment, typically at the top of `main` before any
/// thread starts.
pub unsafe fn unset_env() {
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: the caller guarantees no other thread touches the
        // environment during this call.
        unsafe { std::env::remove_var(var) };
    }
}

impl ActivatedSocket {
    /// The fd, borrowed.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The variables of the protocol, which [`spawn_with_listeners`] sets for
/// the child and never passes on from this process's environment:
/// `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, and systemd's
/// `LISTEN_PIDFDID` (systemd 256 and later), which would name a process
/// that is not the child.
pub const PROTOCOL_VARS: [&str; 4] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "LISTEN_PIDFDID",
];

/// The longest name `LISTEN_FDNAMES` may carry (systemd's `FDNAME_MAX`).
pub const MAX_FDNAME_LEN: usize = 255;

/// A program to start with [`spawn_with_listeners`]: a path, its
/// arguments and changes to the environment it inherits. A small
/// `std::process::Command`: no `PATH` search, stdin, stdout and stderr
/// inherited.
#[derive(Clone, Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
}

impl Command {
    /// The program at `path`, which is also its `argv[0]`. The path is
    /// used as it is, as `execve(2)` uses it: relative to the current
    /// directory if it does not start with `/`, never searched in `PATH`.
    pub fn new(path: impl AsRef<OsStr>) -> Command {
        let program = path.as_ref().to_owned();
        Command {
            args: vec![program.clone()],
            program,
            env: Vec::new(),
        }
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets `key=value` in the child's environment (the protocol's own
    /// variables, [`PROTOCOL_VARS`], are set by the spawn and cannot be
    /// overridden).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Leaves `key` out of the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// The `KEY=VALUE` entries the child gets, but for `LISTEN_PID`: this
    /// process's environment without [`PROTOCOL_VARS`], the command's
    /// changes, then `LISTEN_FDS` and `LISTEN_FDNAMES`.
    fn environment(&self, count: usize, names: &str) -> io::Result<Vec<std::ffi::CString>> {
        let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        for (key, value) in &self.env {
            vars.retain(|(k, _)| k != key);
            if let Some(v) = value {
                vars.push((key.clone(), v.clone()));
            }
        }
        vars.retain(|(k, _)| !PROTOCOL_VARS.iter().any(|p| k == p));
        vars.push(("LISTEN_FDS".into(), count.to_string().into()));
        vars.push(("LISTEN_FDNAMES".into(), names.into()));
        vars.iter()
            .map(|(k, v)| {
                if k.is_empty() || k.as_bytes().contains(&b'=') {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{k:?} cannot be an environment variable's name"),
                    ));
                }
                let mut entry = k.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                sys::process::c_string(&entry, "an environment variable")
            })
            .collect()
    }
}

/// Whether `name` may stand in `LISTEN_FDNAMES`: 1 to 255 printable ASCII
/// characters but `:` (systemd's `fdname_is_valid`, which also takes the
/// empty name; this crate refuses it, since one empty name makes
/// `LISTEN_FDNAMES` empty, which reads as no names at all).
pub fn fdname_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FDNAME_LEN
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b':')
}

/// `pipe2(O_CLOEXEC)`, `fork()`, then in the child `getpid()`,
/// `fcntl(F_DUPFD_CLOEXEC)` and `dup3(fd, 3 + i, 0)` for each socket and
/// `execve(path, argv, envp)` — start a program with `listeners` at its
/// fds 3, 4, ..., as a service manager would.
///
/// The child gets the socket-activation variables: `LISTEN_FDS` (how
/// many), `LISTEN_FDNAMES` (the names, in order, joined with `:`) and
/// `LISTEN_PID`, its own pid, which nobody knows before the fork. So
/// everything is built first, in this process: the argument and
/// environment arrays, with room in the `LISTEN_PID=` entry for ten
/// digits. After `fork` the child only makes async-signal-safe calls
/// (signal-safety(7)) and allocates nothing, since another thread of this
/// process may have held the malloc lock at the moment of the fork, and
/// that lock stays held forever in the child: it writes its pid's digits
/// into the reserved room, copies the report pipe and every socket above
/// the target fds with `F_DUPFD_CLOEXEC` (so placing one at 3 cannot
/// overwrite another that already sits at 4), `dup3`s each into place
/// (`dup3` with no flags leaves close-on-exec clear on the new fd, and on
/// it alone), and calls `execve`. Everything else of the child's that is
/// close-on-exec, as every fd this crate makes is, closes at the exec.
///
/// If the child fails before or at `execve`, it writes the errno to a
/// close-on-exec pipe and exits with status 127; this call reads the
/// pipe (end of file means the exec happened), reaps that child, and
/// returns the errno. The child's calls are never traced (the trace
/// formats into a `String` and takes a lock), but they count in the
/// `stats` of the calling thread and a `fault` script for them fires: the
/// parent decides both just before the fork, and the child follows.
///
/// The child inherits stdin, stdout, stderr, every fd without
/// close-on-exec, the signal mask and ignored signals (execve keeps both:
/// a daemon that blocks its signals for a signalfd passes the block on,
/// and the new one's first signals stay pending until it reads them),
/// and this process's environment without [`PROTOCOL_VARS`], plus the
/// command's changes. Empty `listeners` give `LISTEN_FDS=0`.
///
/// # Errors
///
/// - `InvalidInput` (no syscall made): a name that
///   [`fdname_is_valid`] refuses, more than [`MAX_LISTEN_FDS`] listeners,
///   or a NUL byte in the path, an argument or the environment.
/// - `EMFILE`, `ENFILE`: no fd for the report pipe (`pipe2`), or, in the
///   child, for the copies above the targets (`fcntl`).
/// - `EINVAL`: 3 plus the number of listeners is at or above the child's
///   `RLIMIT_NOFILE` (`fcntl(F_DUPFD_CLOEXEC)`).
/// - `EAGAIN`, `ENOMEM` (`fork`): the process or thread limit
///   (`RLIMIT_NPROC`, `pid_max`, a cgroup's `pids.max`) is reached, or
///   memory is short.
/// - From `execve`: `ENOENT` (no such file), `EACCES` (not executable,
///   or a directory on the path not searchable), `ENOEXEC` (not a format
///   the kernel runs), `E2BIG` (arguments and environment too long),
///   `ETXTBSY`, `ENOTDIR`, `ENOMEM`, `ELOOP`.
/// - `EBUSY` (`dup3`): the kernel was still installing a file at the
///   target fd for another thread; not expected in the single-threaded
///   child, listed for completeness.
/// - `EINTR`: only from the child's own calls, if a signal handler it
///   inherited interrupts one (a `dup3` whose target held a file that
///   flushes on close); the parent's read of the report is retried (the
///   child is on its way to `execve` or `_exit`), a documented exception
///   like `connect_timeout`'s.
///
/// # Examples
///
/// ```
/// use baresock::activation::{Command, spawn_with_listeners};
/// use baresock::{Domain, OwnedSocket, Protocol, SockAddr, Type};
///
/// let l = OwnedSocket::new(Domain::IPV4, Type::STREAM, Protocol::DEFAULT)?;
/// l.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
/// l.listen(16)?;
/// let mut sh = Command::new("/bin/sh");
/// sh.args(["-c", r#"test "$LISTEN_PID" = $$ && test "$LISTEN_FDNAMES" = web"#]);
/// let mut child = spawn_with_listeners(&sh, &[(&l, "web")])?;
/// assert!(child.wait()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "fork")]
#[doc(alias = "execve")]
#[doc(alias = "sd_listen_fds")]
pub fn spawn_with_listeners<S: AsFd>(
    command: &Command,
    listeners: &[(S, &str)],
) -> io::Result<Child> {
    if listeners.len() > MAX_LISTEN_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("more than {MAX_LISTEN_FDS} listeners"),
        ));
    }
    for (_, name) in listeners {
        if !fdname_is_valid(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{name:?} is not a LISTEN_FDNAMES name (1 to {MAX_FDNAME_LEN} printable ASCII characters, no ':')"
                ),
            ));
        }
    }
    let names = listeners
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(":");
    let path = sys::process::c_string(command.program.as_bytes(), "the path")?;
    let args = command
        .args
        .iter()
        .map(|a| sys::process::c_string(a.as_bytes(), "an argument"))
        .collect::<io::Result<Vec<_>>>()?;
    let env = command.environment(listeners.len(), &names)?;
    let sources = listeners
        .iter()
        .map(|(s, _)| s.as_fd().as_raw_fd())
        .collect();
    let mut plan = sys::process::ExecPlan::new(path, args, env, "LISTEN_PID", sources);
    // The listeners stay borrowed until the child has its copies.
    let pid = sys::process::spawn(&mut plan)?;
    Ok(Child { pid, status: None })
}

/// A process started by [`spawn_with_listeners`]: its pid, and the calls
/// to wait for it and signal it.
///
/// Dropping it neither waits nor kills: the process runs on, and once it
/// exits it stays a zombie until this process waits for it (or exits), as
/// with `std::process::Child`. After a wait has reaped it, its pid may
/// name another process, so signals are no longer sent (they succeed
/// without a syscall, as std's `kill` does).
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
}

impl Child {
    /// The child's pid (its `LISTEN_PID`).
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// `wait4(pid, &status, 0, NULL)` — wait until the child exits, and
    /// reap it.
    ///
    /// The kernel keeps an exited child as a zombie (its pid and exit
    /// status) until its parent waits for it; this call blocks until then
    /// and frees the pid. Once reaped, later calls return the same status
    /// without a syscall.
    ///
    /// # Errors
    ///
    /// - `EINTR`: a signal handler ran while waiting; not retried (call
    ///   again).
    /// - `ECHILD`: the child was already reaped by someone else (a
    ///   `waitpid(-1, ...)` elsewhere in the process, or `SIGCHLD` set to
    ///   `SIG_IGN`, which makes the kernel reap children itself).
    #[doc(alias = "waitpid")]
    #[doc(alias = "wait4")]
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(st) = self.status {
            return Ok(st);
        }
        let st = sys::process::wait4(self.pid, 0)?;
        // Without WNOHANG the kernel answers only with a status.
        let st = ExitStatus::from_raw(st.unwrap_or(0));
        self.status = Some(st);
        Ok(st)
    }

    /// `wait4(pid, &status, WNOHANG, NULL)` — reap the child if it has
    /// exited, without blocking: `Ok(None)` if it still runs.
    ///
    /// # Errors
    ///
    /// - `EINTR`: not expected with `WNOHANG`, passed on if it comes.
    /// - `ECHILD`: the child was already reaped by someone else (see
    ///   [`Child::wait`]).
    #[doc(alias = "waitpid")]
    #[doc(alias = "wait4")]
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let st = sys::process::wait4(self.pid, libc::WNOHANG)?.map(ExitStatus::from_raw);
        self.status = st;
        Ok(st)
    }

    /// `kill(pid, SIGKILL)` — end the child at once; it cannot catch or
    /// block `SIGKILL`. Wait for it afterwards to reap it. Once it has
    /// been reaped, nothing is sent.
    ///
    /// # Errors
    ///
    /// - `ESRCH`: no such process (not expected while it is unreaped: a
    ///   zombie still counts).
    /// - `EPERM`: the child changed its user id to one this process may
    ///   not signal.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        sys::source::kill(self.pid, libc::SIGKILL)
    }

    /// `kill(pid, sig)` — send the child a signal (`SIGTERM` to stop it,
    /// `SIGHUP` to reload...). Once it has been reaped, nothing is sent.
    ///
    /// # Errors
    ///
    /// As [`Child::kill`].
    pub fn signal(&mut self, sig: crate::poll::Signal) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        sys::source::kill(self.pid, sig.as_raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_for_us_is_not_an_error() {
        assert_eq!(parse_env(None, Some("2"), None, 10), Ok(None));
        assert_eq!(parse_env(Some("11"), Some("2"), None, 10), Ok(None));
    }

    #[test]
    fn well_formed() {
        let e = parse_env(Some("10"), Some("2"), Some("tcp:udp"), 10)
            .unwrap()
            .unwrap();
        assert_eq!(
            e,
            ListenEnv {
                count: 2,
                names: Some(vec!["tcp", "udp"])
            }
        );
        let e = parse_env(Some("10"), Some("0"), Some(""), 10)
            .unwrap()
            .unwrap();
        assert_eq!(e.count, 0);
    }

    #[test]
    fn malformed_values_are_errors() {
        for pid in [
            "",
            "0",
            "-1",
            "+10",
            " 10",
            "10 ",
            "0x0a",
            "99999999999999999999",
        ] {
            assert!(
                matches!(
                    parse_env(Some(pid), Some("1"), None, 10),
                    Err(EnvError::BadPid(_))
                ),
                "{pid:?}"
            );
        }
        for n in ["", "-1", "1.0", "4097", "abc", "18446744073709551616"] {
            assert!(
                matches!(
                    parse_env(Some("10"), Some(n), None, 10),
                    Err(EnvError::BadFds(_))
                ),
                "{n:?}"
            );
        }
        assert_eq!(
            parse_env(Some("10"), None, None, 10),
            Err(EnvError::MissingFds)
        );
        assert_eq!(
            parse_env(Some("10"), Some("2"), Some("one"), 10),
            Err(EnvError::NameCount { fds: 2, names: 1 })
        );
        assert_eq!(
            parse_env(Some("10"), Some("1"), Some("a:b"), 10),
            Err(EnvError::NameCount { fds: 1, names: 2 })
        );
    }

    #[test]
    fn leading_zeros_are_decimal_whatever_the_length() {
        // Found by cargo-mutants: a 19-character cap (mutated to 20, or
        // dropped) went unnoticed, and it refused "0...010", which names
        // pid 10 as well as "10" does.
        let zeros = "0".repeat(30);
        assert_eq!(
            parse_env(
                Some(&format!("{zeros}10")),
                Some(&format!("{zeros}2")),
                None,
                10
            ),
            Ok(Some(ListenEnv {
                count: 2,
                names: None
            }))
        );
        // 20 digits, within u64; and one past u64::MAX.
        assert_eq!(
            parse_env(Some("10000000000000000000"), Some("1"), None, 10),
            Ok(None)
        );
        assert!(matches!(
            parse_env(Some("18446744073709551616"), Some("1"), None, 10),
            Err(EnvError::BadPid(_))
        ));
    }
}
