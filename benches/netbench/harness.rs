//! The child's side: one contender of one workload, measured in this
//! process, reported as one `RESULT key=value...` line on stdout.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Figures a child reports, by name.
pub type Out = BTreeMap<String, f64>;

/// `key=value` arguments of a child.
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(args: &[String]) -> Params {
        let mut m = BTreeMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .unwrap_or_else(|| panic!("child argument {a:?} is not key=value"));
            m.insert(k.to_owned(), v.to_owned());
        }
        Params(m)
    }

    pub fn u64(&self, key: &str, default: u64) -> u64 {
        self.0.get(key).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{key}={v} is not a number"))
        })
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// What a child measures: `run(n)` does `n` operations and leaves the
/// workload ready for the next call.
pub trait Workload {
    fn run(&mut self, n: u64);
    /// Called right before the measured runs: forget what warm-up and
    /// sizing runs gathered.
    fn begin(&mut self) {}
    /// Running totals of time the workload splits out itself (ns), by
    /// name; reported per operation like the main timer.
    fn timers(&self) -> Vec<(&'static str, u128)> {
        Vec::new()
    }
    /// Figures the workload gathers itself, after the measured runs.
    fn extra(&mut self, _out: &mut Out) {}
}

/// How many operations: a fixed count (for counts, strace and callgrind,
/// which difference two run lengths) or as many as fill `target`.
pub struct Plan {
    pub warm: u64,
    pub fixed: Option<u64>,
    pub target: Duration,
}

impl Plan {
    pub fn from(p: &Params) -> Plan {
        Plan {
            warm: p.u64("warm", 200),
            fixed: p.str("iters").map(|_| p.u64("iters", 0)),
            target: Duration::from_millis(p.u64("ms", 300)),
        }
    }
}

/// Chunks per timed run: short enough that many run while no other job
/// takes the core.
const CHUNKS: u32 = 100;

/// Warm up, size the chunks, then run chunks until the target is filled,
/// timing each, and count what the operations cost: allocations (the
/// counting allocator, inside the workload's runs only), syscalls of this
/// thread (the `stats` feature, when this binary was built with it).
///
/// The figure is the low decile of the chunks' times per operation
/// (`ns_per_op`), with the median and the mean beside it: the machine is
/// shared, and another job taking the core only ever adds time, so the
/// fast chunks are the ones that measured the code.
pub fn measure(plan: &Plan, w: &mut dyn Workload) -> Out {
    w.run(plan.warm);
    let chunk = match plan.fixed {
        Some(n) => n,
        None => size_chunk(plan.target / CHUNKS, w),
    };
    w.begin();
    let s0 = syscalls();
    let mut allocations = 0;
    let t0 = Instant::now();
    let mut n = 0;
    // Per chunk: ns per operation for the main timer and each of the
    // workload's own timers.
    let mut per_chunk: Vec<Vec<f64>> = Vec::with_capacity(4 * CHUNKS as usize);
    let mut last = (t0, w.timers());
    loop {
        let (a0, _) = crate::heap_counts();
        w.run(chunk);
        let (a1, _) = crate::heap_counts();
        allocations += a1 - a0;
        n += chunk;
        let now = (Instant::now(), w.timers());
        let mut row = vec![(now.0 - last.0).as_nanos() as f64 / chunk as f64];
        for ((_, a), (_, b)) in now.1.iter().zip(&last.1) {
            row.push((a - b) as f64 / chunk as f64);
        }
        per_chunk.push(row);
        last = now;
        if plan.fixed.is_some() || t0.elapsed() >= plan.target {
            break;
        }
    }
    let elapsed = t0.elapsed();
    let s1 = syscalls();
    let mut out = Out::new();
    let nf = n as f64;
    out.insert("ops".into(), nf);
    out.insert("chunks".into(), per_chunk.len() as f64);
    let pick = |i: usize, q: f64| {
        let mut v: Vec<f64> = per_chunk.iter().map(|r| r[i]).collect();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    out.insert("ns_per_op".into(), pick(0, 0.1));
    out.insert("ns_per_op_median".into(), pick(0, 0.5));
    out.insert("ns_per_op_mean".into(), elapsed.as_nanos() as f64 / nf);
    for (i, (name, _)) in last.1.iter().enumerate() {
        out.insert((*name).to_owned(), pick(i + 1, 0.1));
    }
    out.insert("allocs_per_op".into(), allocations as f64 / nf);
    if let (Some(s0), Some(s1)) = (s0, s1) {
        let mut total = 0;
        for ((name, before), (_, after)) in s0.iter().zip(&s1) {
            let d = after - before;
            total += d;
            if d != 0 {
                out.insert(format!("sys.{name}"), d as f64 / nf);
            }
        }
        out.insert("sys_total".into(), total as f64 / nf);
    }
    w.extra(&mut out);
    out
}

/// Doubles a trial run until it lasts a fifth of `chunk`, and returns the
/// count that fills `chunk` at that pace.
fn size_chunk(chunk: Duration, w: &mut dyn Workload) -> u64 {
    let mut k = 1u64;
    loop {
        let t = Instant::now();
        w.run(k);
        let e = t.elapsed();
        if e >= chunk / 5 || k >= 1 << 32 {
            let n = chunk.as_nanos() * u128::from(k) / e.as_nanos().max(1);
            return (n as u64).max(1);
        }
        k *= 2;
    }
}

/// The crate's syscall counters of this thread, by name, when this binary
/// was built with the `stats` feature.
#[cfg(feature = "stats")]
pub fn syscalls() -> Option<Vec<(&'static str, u64)>> {
    use baresock::{Syscall, stats};
    let snap = stats::snapshot();
    Some(
        Syscall::ALL
            .iter()
            .map(|s| (s.name(), snap[*s as usize]))
            .collect(),
    )
}

#[cfg(not(feature = "stats"))]
pub fn syscalls() -> Option<Vec<(&'static str, u64)>> {
    None
}

/// Raises the soft fd limit to the hard one (the 10,000-fd workloads).
pub fn raise_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit for the kernel to fill.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r) };
    assert_eq!(got, 0, "getrlimit");
    r.rlim_cur = r.rlim_max;
    // SAFETY: r is a valid rlimit the kernel only reads.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const r) };
    assert_eq!(set, 0, "setrlimit(RLIMIT_NOFILE, hard)");
}

/// Prints a child's result line.
pub fn print_result(out: &Out) {
    let mut line = String::from("RESULT");
    for (k, v) in out {
        line.push_str(&format!(" {k}={v}"));
    }
    println!("{line}");
}

/// `netbench --child WORKLOAD CONTENDER key=value...`
pub fn child_main(args: &[String]) {
    let [workload, contender, rest @ ..] = args else {
        panic!("usage: netbench --child WORKLOAD CONTENDER [key=value...]");
    };
    let p = Params::parse(rest);
    let out = match workload.as_str() {
        "pingpong" => crate::pingpong::child(contender, &p),
        "waitcost" => crate::waitcost::child(contender, &p),
        "register" => crate::register::child(contender, &p),
        "regmem" => crate::register::memory_child(contender, &p),
        "wake" => crate::wake::child(contender, &p),
        "blocking" => crate::blocking::child(contender, &p),
        "churn" => crate::churn::child(contender, &p),
        "udp" => crate::udp::child(contender, &p),
        "c10k-server" => return crate::c10k::server(contender, &p),
        "c10k-client" => return crate::c10k::client(&p),
        "balance-client" => crate::balance::client(&p),
        "pwait2" => crate::waitcost::pwait2_child(),
        other => panic!("unknown workload {other:?}"),
    };
    print_result(&out);
}

/// Panics with the OS error when a raw libc call failed.
#[track_caller]
pub fn check(ret: isize, what: &str) -> usize {
    if ret < 0 {
        panic!("{what}: {}", std::io::Error::last_os_error());
    }
    ret as usize
}
