//! The parent's side: options, running children (plain, under strace,
//! under callgrind), rounds with the start rotated, and the statistics.

use crate::harness::Out;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
netbench: baresock against a raw-libc floor, mio, polling, socket2 and std

usage: cargo bench --bench netbench -- [options]
       (scripts/bench.sh builds the stats variant and passes --count-exe)

  --write PATH       write the report (markdown) to PATH, charts beside it
  --update           with --write: keep PATH and put in it only what this
                     run measured (its sections, target rows, closing-note
                     lines and commands), e.g. with --only balance
  --count-exe PATH   this bench built with `--features stats`: syscall
                     counts of our contenders come from its counters
  --rounds N         timing rounds per workload (default 7)
  --quick            short runs, 2 rounds: a smoke test of the harness
  --only A,B         only these sections: pingpong, waitcost, register,
                     wake, c10k, churn, blocking, udp, balance,
                     instructions
";

pub struct Opts {
    pub write: Option<PathBuf>,
    pub count_exe: Option<PathBuf>,
    pub rounds: usize,
    pub quick: bool,
    pub only: Option<Vec<String>>,
    pub update: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut o = Opts {
            write: None,
            count_exe: None,
            rounds: 7,
            quick: false,
            only: None,
            update: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .unwrap_or_else(|| panic!("{a} needs a value\n{USAGE}"))
                    .clone()
            };
            match a.as_str() {
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                "--write" => o.write = Some(value().into()),
                "--count-exe" => o.count_exe = Some(value().into()),
                "--rounds" => o.rounds = value().parse().expect("--rounds N"),
                "--quick" => o.quick = true,
                "--update" => o.update = true,
                "--only" => o.only = Some(value().split(',').map(str::to_owned).collect()),
                "--help" | "-h" => {
                    print!("{USAGE}");
                    std::process::exit(0);
                }
                other => panic!("unknown option {other:?}\n{USAGE}"),
            }
        }
        if o.quick && o.rounds == 7 {
            o.rounds = 2;
        }
        o
    }

    pub fn wants(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|l| l.iter().any(|s| s == section))
    }
}

pub fn main(args: &[String]) {
    let opts = Opts::parse(args);
    let runner = Runner::new(&opts);
    crate::report::run_all(&opts, &runner);
}

/// Runs children of this binary (and of the stats build), plain or under
/// a tool.
pub struct Runner {
    pub exe: PathBuf,
    pub count_exe: Option<PathBuf>,
    pub rounds: usize,
    pub quick: bool,
    tmp: PathBuf,
    pub strace: bool,
    pub valgrind: bool,
}

/// One child's arguments after `--child`.
pub type Params<'a> = &'a [(&'a str, String)];

impl Runner {
    fn new(opts: &Opts) -> Runner {
        let exe = std::env::current_exe().expect("current_exe");
        let count_exe = opts.count_exe.clone().or_else(|| {
            // A binary built with the stats feature counts by itself (its
            // timings then include the counters' increments).
            crate::harness::syscalls().map(|_| exe.clone())
        });
        let tmp = std::env::temp_dir().join(format!("netbench-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        let works = |cmd: &str, arg: &str| {
            Command::new(cmd)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        Runner {
            exe,
            count_exe,
            rounds: opts.rounds,
            quick: opts.quick,
            tmp,
            strace: works("strace", "-V"),
            valgrind: works("valgrind", "--version"),
        }
    }

    /// The plan arguments: calibrated to `ms` (shorter when quick).
    pub fn ms(&self, ms: u64) -> String {
        if self.quick {
            (ms / 4).max(30).to_string()
        } else {
            ms.to_string()
        }
    }

    fn child_args(workload: &str, contender: &str, params: Params<'_>) -> Vec<String> {
        let mut v = vec![
            "--child".to_owned(),
            workload.to_owned(),
            contender.to_owned(),
        ];
        v.extend(params.iter().map(|(k, val)| format!("{k}={val}")));
        v
    }

    /// Runs one child, with a guard: a child that hangs is killed (by its
    /// pid) and the run fails. One retry, for a transient failure.
    pub fn child(&self, exe: &Path, workload: &str, contender: &str, params: Params<'_>) -> Out {
        let args = Self::child_args(workload, contender, params);
        let mut last = String::new();
        for _ in 0..2 {
            let mut cmd = Command::new(exe);
            cmd.args(&args);
            match run_guarded(cmd, Duration::from_secs(300)) {
                Ok(stdout) => match parse_result(&stdout) {
                    Some(out) => return out,
                    None => last = format!("no RESULT line in {stdout:?}"),
                },
                Err(e) => last = e,
            }
            eprintln!("netbench: retrying {workload} {contender}: {last}");
        }
        panic!(
            "netbench: child {} failed: {last}",
            args.join(" ").replace("--child ", "")
        );
    }

    /// Times `contenders` over the rounds: each once per round, the start
    /// rotated by one each round.
    pub fn timed(&self, workload: &str, contenders: &[&str], params: Params<'_>) -> Timing {
        let mut rounds = Vec::new();
        for r in 0..self.rounds {
            let mut round = BTreeMap::new();
            for k in 0..contenders.len() {
                let c = contenders[(r + k) % contenders.len()];
                round.insert(c.to_owned(), self.child(&self.exe, workload, c, params));
            }
            rounds.push(round);
        }
        Timing { rounds }
    }

    /// One fixed-length run of the stats build: exact counts per
    /// operation. None without a stats build.
    pub fn counted(&self, workload: &str, contender: &str, params: Params<'_>) -> Option<Out> {
        let exe = self.count_exe.as_ref()?;
        let mut p: Vec<(&str, String)> = params.to_vec();
        p.push(("iters", "2000".into()));
        Some(self.child(exe, workload, contender, &p))
    }

    /// Syscalls per operation by name from `strace -c -f`, differenced
    /// between runs of `n1` and `n2` operations so that setup cancels.
    pub fn strace(
        &self,
        workload: &str,
        contender: &str,
        params: Params<'_>,
        n1: u64,
        n2: u64,
    ) -> Option<BTreeMap<String, f64>> {
        if !self.strace {
            return None;
        }
        let counts = |n: u64| -> BTreeMap<String, u64> {
            let file = self.tmp.join(format!("strace-{workload}-{contender}-{n}"));
            let mut p: Vec<(&str, String)> = params.to_vec();
            p.push(("iters", n.to_string()));
            p.push(("warm", "50".into()));
            let mut cmd = Command::new("strace");
            cmd.arg("-f").arg("-c").arg("-o").arg(&file).arg("--");
            cmd.arg(&self.exe)
                .args(Self::child_args(workload, contender, &p));
            let stdout = run_guarded(cmd, Duration::from_secs(300))
                .unwrap_or_else(|e| panic!("strace {workload} {contender}: {e}"));
            assert!(parse_result(&stdout).is_some(), "strace run: {stdout}");
            let text = std::fs::read_to_string(&file).expect("strace output");
            let _ = std::fs::remove_file(&file);
            parse_strace(&text)
        };
        let (a, b) = (counts(n1), counts(n2));
        let mut out = BTreeMap::new();
        for (name, &cb) in &b {
            let ca = a.get(name).copied().unwrap_or(0);
            let per = (cb as f64 - ca as f64) / (n2 - n1) as f64;
            // Below one in a hundred operations is setup noise (a page
            // fault's mmap, a thread's futex), not a per-operation cost.
            if per.abs() >= 0.01 {
                out.insert(name.clone(), per);
            }
        }
        Some(out)
    }

    /// User-space instructions per operation under callgrind, differenced
    /// between runs of `n1` and `n2` operations.
    pub fn callgrind(
        &self,
        workload: &str,
        contender: &str,
        params: Params<'_>,
        n1: u64,
        n2: u64,
    ) -> Option<f64> {
        if !self.valgrind {
            return None;
        }
        let total = |n: u64| -> u64 {
            let file = self
                .tmp
                .join(format!("callgrind-{workload}-{contender}-{n}"));
            let mut p: Vec<(&str, String)> = params.to_vec();
            p.push(("iters", n.to_string()));
            p.push(("warm", "50".into()));
            let mut cmd = Command::new("valgrind");
            cmd.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", file.display()))
                .arg(&self.exe)
                .args(Self::child_args(workload, contender, &p));
            let stdout = run_guarded(cmd, Duration::from_secs(600))
                .unwrap_or_else(|e| panic!("callgrind {workload} {contender}: {e}"));
            assert!(parse_result(&stdout).is_some(), "callgrind run: {stdout}");
            let text = std::fs::read_to_string(&file).expect("callgrind output");
            let _ = std::fs::remove_file(&file);
            text.lines()
                .find_map(|l| {
                    l.strip_prefix("totals:")
                        .or_else(|| l.strip_prefix("summary:"))
                })
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .expect("callgrind totals")
        };
        let (a, b) = (total(n1), total(n2));
        Some((b as f64 - a as f64) / (n2 - n1) as f64)
    }

    /// The epoll_pwait2 fallback under valgrind (stats build): the counts
    /// of one child that makes two sub-millisecond waits.
    pub fn pwait2_under_valgrind(&self) -> Option<Out> {
        let exe = self.count_exe.as_ref()?;
        if !self.valgrind {
            return None;
        }
        let mut cmd = Command::new("valgrind");
        cmd.arg("--tool=none").arg("-q").arg(exe);
        cmd.args(Self::child_args("pwait2", "ours-epoll", &[]));
        let stdout = run_guarded(cmd, Duration::from_secs(120)).ok()?;
        parse_result(&stdout)
    }

    /// The same two waits run natively (stats build).
    pub fn pwait2_native(&self) -> Option<Out> {
        let exe = self.count_exe.as_ref()?;
        Some(self.child(exe, "pwait2", "ours-epoll", &[]))
    }

    /// The c10k pair: a server (ours or the floor's, from `server_exe`) and
    /// the client, driven through their stdin and stdout. Returns the
    /// client's result and the server's.
    pub fn c10k(
        &self,
        server_exe: &Path,
        server: &str,
        conns: u64,
        active: u64,
        ms: u64,
    ) -> (Out, Out) {
        use std::io::{BufRead, BufReader, Write};
        let spawn = |exe: &Path, args: Vec<String>| {
            Command::new(exe)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn c10k child")
        };
        let mut srv = spawn(
            server_exe,
            Self::child_args("c10k-server", server, &[("conns", conns.to_string())]),
        );
        let guard = Guard::new(srv.id(), Duration::from_secs(300));
        let mut srv_out = BufReader::new(srv.stdout.take().unwrap());
        let mut srv_in = srv.stdin.take().unwrap();
        let mut line = String::new();
        let mut next_line = |r: &mut dyn BufRead, what: &str| -> String {
            line.clear();
            r.read_line(&mut line).expect("read child line");
            assert!(!line.is_empty(), "c10k: {what} exited early");
            line.trim().to_owned()
        };
        let port: u16 = next_line(&mut srv_out, "server")
            .strip_prefix("port ")
            .expect("port line")
            .parse()
            .unwrap();
        let mut cli = spawn(
            &self.exe,
            Self::child_args(
                "c10k-client",
                "client",
                &[
                    ("port", port.to_string()),
                    ("conns", conns.to_string()),
                    ("active", active.to_string()),
                    ("ms", ms.to_string()),
                ],
            ),
        );
        let guard2 = Guard::new(cli.id(), Duration::from_secs(300));
        let mut cli_out = BufReader::new(cli.stdout.take().unwrap());
        let mut cli_in = cli.stdin.take().unwrap();
        let est = next_line(&mut cli_out, "client");
        assert!(est.starts_with("established"), "client said {est:?}");
        writeln!(srv_in, "mark").unwrap();
        assert_eq!(next_line(&mut srv_out, "server"), "marked");
        writeln!(cli_in, "go").unwrap();
        let client = parse_result(&next_line(&mut cli_out, "client")).expect("client RESULT line");
        writeln!(srv_in, "end").unwrap();
        let server = parse_result(&next_line(&mut srv_out, "server")).expect("server RESULT line");
        drop(srv_in);
        drop(cli_in);
        assert!(srv.wait().unwrap().success(), "c10k server failed");
        assert!(cli.wait().unwrap().success(), "c10k client failed");
        guard.done();
        guard2.done();
        let mut client = client;
        if let Some(secs) = est
            .strip_prefix("established ")
            .and_then(|s| s.parse::<f64>().ok())
        {
            client.insert("connect_secs".into(), secs);
        }
        (client, server)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// Kills a child (by its pid) that outlives its deadline.
pub(crate) struct Guard {
    tx: mpsc::Sender<()>,
}

impl Guard {
    pub(crate) fn new(pid: u32, limit: Duration) -> Guard {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if rx.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                eprintln!("netbench: child {pid} ran past {limit:?}: killing it");
                // SAFETY: no pointers; pid is a child we spawned and have not
                // reaped (done() would have been called).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        });
        Guard { tx }
    }

    pub(crate) fn done(self) {
        let _ = self.tx.send(());
    }
}

/// Runs `cmd` to completion with stdout captured; kills it past `limit`.
fn run_guarded(mut cmd: Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let guard = Guard::new(child.id(), limit);
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut err_pipe = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let _ = err_pipe.read_to_string(&mut stderr);
        stderr
    });
    let _ = child.stdout.take().unwrap().read_to_string(&mut stdout);
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    guard.done();
    let stderr = err_reader.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("{status}; stderr: {}", stderr.trim()))
    }
}

fn parse_result(stdout: &str) -> Option<Out> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT"))?;
    Some(
        line.split_whitespace()
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect(),
    )
}

/// The rows of `strace -c`: calls per syscall name.
fn parse_strace(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors,] syscall
        if f.len() < 5 || f[0].starts_with('-') || f[0] == "%" || *f.last().unwrap() == "total" {
            continue;
        }
        if let Ok(calls) = f[3].parse::<u64>() {
            out.insert((*f.last().unwrap()).to_owned(), calls);
        }
    }
    out
}

/// Every round's result per contender.
pub struct Timing {
    pub rounds: Vec<BTreeMap<String, Out>>,
}

impl Timing {
    pub fn values(&self, c: &str, key: &str) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| r.get(c)?.get(key).copied())
            .collect()
    }

    pub fn median(&self, c: &str, key: &str) -> f64 {
        median(self.values(c, key))
    }

    pub fn min(&self, c: &str, key: &str) -> f64 {
        self.values(c, key)
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self, c: &str, key: &str) -> f64 {
        self.values(c, key)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The median over rounds of `c`'s value divided by `base`'s in the
    /// same round.
    pub fn ratio(&self, c: &str, base: &str, key: &str) -> f64 {
        median(
            self.rounds
                .iter()
                .filter_map(|r| Some(r.get(c)?.get(key)? / r.get(base)?.get(key)?))
                .collect(),
        )
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Seconds since `start`, for the progress lines.
pub fn since(start: Instant) -> String {
    format!("{:.0}s", start.elapsed().as_secs_f64())
}
