//! Runs every section (`sections.rs`), judges each target of issue 7
//! against what was measured, and writes the report: markdown tables, the
//! command lines, the machine, and two hand-written SVG charts
//! (`svg.rs`).

use crate::harness::Out;
use crate::parent::{Opts, Runner, since};
use crate::sections;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The rows of the issue's target table, in its order.
pub(crate) const TARGETS: [(&str, &str); 12] = [
    (
        "TCP 1-byte ping-pong, one thread, each backend",
        "epoll ≤ 1.02 × floor; poll and select ≤ 1.03 × their floors; faster than polling, no slower than mio",
    ),
    (
        "syscalls per echo",
        "exactly 3 (wait, recv, send) on every backend in level-triggered mode; no epoll_ctl, timer or eventfd syscall per wait",
    ),
    ("heap allocations per wait and per event", "0"),
    (
        "user-space instructions per round trip",
        "no more than mio's",
    ),
    (
        "wait cost, 1 ready + N idle, N = 0 … 10,000",
        "epoll flat (cost at 10,000 ≤ 1.05 × cost at 0); poll and select linear with the floor's slope (±20%)",
    ),
    (
        "registration",
        "1 syscall per epoll register/modify/deregister; none for poll and select",
    ),
    (
        "cross-thread wake-up",
        "epoll: 1 syscall per wake (the write); poll and select: the write and one reset read; no extra syscall on waits that were not woken",
    ),
    (
        "10,000 connections, 10 to 10,000 active, two processes",
        "epoll ≥ 0.95 × the floor's echoes/s in every cell, no collapse as idle connections grow; our memory per registered fd ≤ 64 bytes",
    ),
    (
        "accept churn (connect, accept, echo, close)",
        "≤ 1.03 × floor; no fcntl after socket or accept4",
    ),
    ("blocking send/recv through OwnedSocket", "≤ 1.01 × floor"),
    (
        "UDP batches of 1, 8, 32, 64 with sendmmsg/recvmmsg",
        "≤ 1.03 × floor; batching gains match the floor's",
    ),
    (
        "accept balance (issue 13): 10,000 connections from a client process, 2/4/8 worker threads",
        "reuseport max/min of per-thread accepts ≤ 1.25; listener wake-ups per accepted connection ≤ 1.05 for exclusive, reuseport and cpu; shared's herd and exclusive's skew shown and explained",
    ),
];

pub(crate) const R_PINGPONG: usize = 0;
pub(crate) const R_SYSCALLS: usize = 1;
pub(crate) const R_ALLOCS: usize = 2;
pub(crate) const R_INSTR: usize = 3;
pub(crate) const R_WAIT: usize = 4;
pub(crate) const R_REGISTER: usize = 5;
pub(crate) const R_WAKE: usize = 6;
pub(crate) const R_C10K: usize = 7;
pub(crate) const R_CHURN: usize = 8;
pub(crate) const R_BLOCKING: usize = 9;
pub(crate) const R_UDP: usize = 10;
pub(crate) const R_BALANCE: usize = 11;

/// What was measured against each target: parts, each judged.
#[derive(Default)]
pub(crate) struct Verdicts {
    parts: [Vec<(String, bool)>; TARGETS.len()],
    /// Shown in the row but not judged: what was not measured, and why.
    unjudged: [Vec<String>; TARGETS.len()],
    /// Evidence for the closing note, shown when the row is missed and,
    /// if the note names a word, a missed part of the row contains it.
    notes: [Vec<(&'static str, String)>; TARGETS.len()],
}

impl Verdicts {
    pub(crate) fn add(&mut self, row: usize, measured: String, ok: bool) {
        self.parts[row].push((measured, ok));
    }

    /// A part of the row that is shown and not judged (a goal this run
    /// cannot measure, say so).
    pub(crate) fn unjudged(&mut self, row: usize, text: String) {
        self.unjudged[row].push(text);
    }

    pub(crate) fn note(&mut self, row: usize, text: String) {
        self.notes[row].push(("", text));
    }

    /// A note shown only when a missed part of the row contains `key`.
    pub(crate) fn note_for(&mut self, row: usize, key: &'static str, text: String) {
        self.notes[row].push((key, text));
    }

    fn met(&self, row: usize) -> Option<bool> {
        let p = &self.parts[row];
        (!p.is_empty()).then(|| p.iter().all(|(_, ok)| *ok))
    }
}

/// The report as it grows.
pub(crate) struct Doc {
    pub(crate) sections: String,
    pub(crate) charts: Vec<(&'static str, String)>,
    pub(crate) commands: Vec<String>,
}

pub fn run_all(opts: &Opts, r: &Runner) {
    let start = Instant::now();
    let machine = Machine::probe();
    eprintln!(
        "netbench: {} rounds{}; stats build: {}; strace: {}; valgrind: {}",
        r.rounds,
        if r.quick { " (quick)" } else { "" },
        r.count_exe
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string()),
        r.strace,
        r.valgrind
    );
    let mut doc = Doc {
        sections: String::new(),
        charts: Vec::new(),
        commands: Vec::new(),
    };
    let mut v = Verdicts::default();
    type Section = fn(&Runner, &mut Doc, &mut Verdicts);
    let sections: [(&str, Section); 9] = [
        ("pingpong", sections::pingpong),
        ("waitcost", sections::waitcost),
        ("register", sections::register),
        ("wake", sections::wake),
        ("c10k", sections::c10k),
        ("churn", sections::churn),
        ("blocking", sections::blocking),
        ("udp", sections::udp),
        ("balance", sections::balance),
    ];
    for (name, f) in sections {
        if opts.wants(name) || (name == "pingpong" && opts.wants("instructions")) {
            eprintln!("netbench: [{}] {name}", since(start));
            f(r, &mut doc, &mut v);
        }
    }
    let load_end = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let old = opts
        .write
        .as_ref()
        .filter(|_| opts.update)
        .and_then(|p| std::fs::read_to_string(p).ok());
    let md = match old {
        Some(old) => {
            let only = opts.only.as_ref().map_or("all".into(), |l| l.join(","));
            update(&old, &machine, &doc, &v, &only)
        }
        None => assemble(&machine, &doc, &v, r, start, &load_end),
    };
    println!("{md}");
    if let Some(path) = &opts.write {
        std::fs::write(path, &md).expect("write the report");
        let dir = path.parent().unwrap_or(Path::new("."));
        for (name, svg) in &doc.charts {
            let p = dir.join(CHART_DIR).join(name);
            std::fs::create_dir_all(p.parent().unwrap()).expect("chart folder");
            std::fs::write(&p, svg).expect("write a chart");
        }
        eprintln!("netbench: wrote {} and its charts", path.display());
    }
    eprintln!("netbench: done in {}", since(start));
}

pub(crate) const CHART_DIR: &str = "benches/charts";

// ---------------------------------------------------------------------
// Formatting

pub(crate) fn ns(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x >= 1e6 {
        format!("{:.2} ms", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1} µs", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.2} µs", x / 1e3)
    } else {
        format!("{x:.0} ns")
    }
}

pub(crate) fn ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "–".into()
    }
}

pub(crate) fn count(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if (x - x.round()).abs() < 0.005 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.2}")
    }
}

pub(crate) fn opt_count(x: Option<f64>) -> String {
    x.map_or("–".into(), count)
}

pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        headers.iter().map(|_| " --- |").collect::<String>()
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// `name n, name n` from per-operation syscall counts, scaled by `k`.
pub(crate) fn breakdown(m: &BTreeMap<String, f64>, k: f64) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter(|(_, v)| (**v * k).abs() >= 0.005)
        .map(|(n, v)| format!("{n} {}", count(v * k)))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// The `sys.NAME` entries of a child's result, by name.
pub(crate) fn sys_of(o: &Out) -> BTreeMap<String, f64> {
    o.iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("sys.")?.to_owned(), *v)))
        .collect()
}

pub(crate) fn sum(m: &BTreeMap<String, f64>) -> f64 {
    m.values().sum()
}

pub(crate) fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

pub(crate) fn floor_of(c: &str) -> &'static str {
    match c {
        "ours-poll" | "floor-poll" => "floor-poll",
        "ours-select" | "floor-select" => "floor-select",
        _ => "floor-epoll",
    }
}

/// Least-squares slope of y against x.
pub(crate) fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let num: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    num / den
}

/// Instructions per operation under callgrind.
pub(crate) fn instructions(
    r: &Runner,
    workload: &str,
    c: &str,
    params: &[(&str, String)],
) -> Option<f64> {
    let (n1, n2) = if r.quick { (100, 300) } else { (300, 1300) };
    r.callgrind(workload, c, params, n1, n2)
}

pub(crate) fn fmt_instr(i: Option<f64>) -> String {
    i.map_or("–".into(), |i| format!("{i:.0}"))
}

/// The closing note's evidence for a timing row: the two contenders'
/// instructions per operation.
pub(crate) fn instr_note(
    v: &mut Verdicts,
    row: usize,
    what: &str,
    ours: Option<f64>,
    floor: Option<f64>,
) {
    if let (Some(o), Some(f)) = (ours, floor) {
        v.note(
            row,
            format!(
                "{what}: the same syscalls as the floor (see the counts); user-space instructions ours / floor {o:.0} / {f:.0}. A difference of a few dozen instructions next to microseconds of kernel work is below what this shared machine resolves: see min – max."
            ),
        );
    }
}

pub(crate) fn short(n: u64) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

pub(crate) fn timing_note(rounds: usize) -> String {
    format!(
        "Times are the median over {rounds} rounds (min and max beside it) of each child's figure, the low decile of its ~100 chunk timings; \"ratio\" is the median of the per-round ratios to the floor named. "
    )
}

// ---------------------------------------------------------------------
// The document

struct Machine {
    cpu: String,
    cores: usize,
    kernel: String,
    rustc: String,
    date: String,
    load: String,
    nofile: String,
    somaxconn: String,
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Machine {
    fn probe() -> Machine {
        let lscpu = output("lscpu", &[]);
        let cpu = lscpu
            .lines()
            .find_map(|l| l.strip_prefix("Model name:"))
            .map_or("unknown".into(), |s| s.trim().to_owned());
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: r is a valid rlimit for the kernel to fill.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut r) };
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            rustc: output(&rustc, &["-V"]),
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            load: std::fs::read_to_string("/proc/loadavg").unwrap_or_default(),
            nofile: format!("soft {}, hard {}", r.rlim_cur, r.rlim_max),
            somaxconn: std::fs::read_to_string("/proc/sys/net/core/somaxconn")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

fn assemble(
    m: &Machine,
    doc: &Doc,
    v: &Verdicts,
    r: &Runner,
    start: Instant,
    load_end: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# baresock benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `scripts/bench.sh` (issue 7): every figure below comes from one run of `benches/netbench.rs`. Do not edit by hand; run the script again.\n"
    );
    let _ = writeln!(
        s,
        "**The machine is noisy.** It has {} cores shared with other jobs (other builds run while this one does), so single timings wander by several percent. Read the medians and, above all, the ratios: each contender runs in a child process of its own, the rounds alternate the contenders with the start rotated, and a ratio is the median of per-round ratios, so slow spells hit every contender of a round alike. Within a child, the timed run is cut into about 100 chunks and the child's figure is the low decile of the chunks' times per operation: another job taking the core only ever adds time, so the fast chunks are the ones that measured the code (a child's RESULT line also gives the median chunk and the whole-run mean). Counts (syscalls, allocations, instructions) do not depend on the noise and are exact.\n",
        m.cores
    );
    let _ = writeln!(s, "## Targets\n");
    let rows: Vec<Vec<String>> = (0..TARGETS.len()).map(|i| target_row(v, i)).collect();
    s.push_str(&table(
        &["workload", "target", "measured", "verdict"],
        &rows,
    ));
    let _ = writeln!(s, "\n{LEGEND}");
    let _ = writeln!(s, "\n{}", closing_note(v));
    s.push_str(&doc.sections);
    let _ = writeln!(s, "## How it was run\n");
    let _ = writeln!(s, "```sh");
    let _ = writeln!(
        s,
        "scripts/bench.sh    # the one command: builds both variants, runs everything, writes BENCHMARKS.md"
    );
    let _ = writeln!(s, "# which runs:");
    let _ = writeln!(
        s,
        "cargo bench --bench netbench --features stats --no-run    # the counting build (netbench-stats below)"
    );
    let _ = writeln!(
        s,
        "cargo bench --bench netbench -- --count-exe PATH --write BENCHMARKS.md"
    );
    let _ = writeln!(
        s,
        "# each contender, timed (calibrated to fill MS milliseconds after a warm-up):"
    );
    let _ = writeln!(s, "netbench --child WORKLOAD CONTENDER [n=N batch=B] ms=MS");
    let _ = writeln!(
        s,
        "# exact counts: the stats build, a fixed number of operations:"
    );
    let _ = writeln!(s, "netbench-stats --child WORKLOAD CONTENDER iters=2000");
    for c in &doc.commands {
        let _ = writeln!(s, "{c}");
    }
    let _ = writeln!(s, "```\n");
    let _ = writeln!(
        s,
        "`cargo bench --bench netbench -- --help` lists the options (`--quick` for a smoke run, `--only` for some sections).\n"
    );
    let _ = writeln!(s, "## Machine\n");
    s.push_str(&table(
        &["", ""],
        &[
            vec![
                "CPU (lscpu)".into(),
                format!("{}, {} cores", m.cpu, m.cores),
            ],
            vec!["kernel".into(), m.kernel.clone()],
            vec!["rustc".into(), m.rustc.clone()],
            vec!["date".into(), m.date.clone()],
            vec!["RLIMIT_NOFILE".into(), m.nofile.clone()],
            vec!["net.core.somaxconn".into(), m.somaxconn.clone()],
            vec![
                "load average at start / end".into(),
                format!(
                    "{} / {}",
                    m.load
                        .split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" "),
                    load_end
                        .split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ],
            vec![
                "run time".into(),
                format!(
                    "{:.0} s, {} timing rounds",
                    start.elapsed().as_secs_f64(),
                    r.rounds
                ),
            ],
            vec![
                "counts".into(),
                format!(
                    "stats build: {}; strace: {}; valgrind: {}",
                    if r.count_exe.is_some() { "yes" } else { "no" },
                    if r.strace { "yes" } else { "no" },
                    if r.valgrind { "yes" } else { "no" }
                ),
            ],
        ],
    ));
    s
}

/// The line under the target table.
const LEGEND: &str = "A part that missed its target is in bold; a part in italics was not judged (not measured, and why). Timing ratios are ours / floor (below 1 is faster than the floor).";

/// Row `i` of the target table: workload, target, measured, verdict.
fn target_row(v: &Verdicts, i: usize) -> Vec<String> {
    let (workload, target) = TARGETS[i];
    let measured = if v.parts[i].is_empty() && v.unjudged[i].is_empty() {
        "not measured in this run".to_owned()
    } else {
        v.parts[i]
            .iter()
            .map(|(m, ok)| if *ok { m.clone() } else { format!("**{m}**") })
            .chain(v.unjudged[i].iter().map(|m| format!("*{m}*")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let verdict = match v.met(i) {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "–",
    };
    vec![
        workload.to_owned(),
        target.to_owned(),
        measured,
        verdict.to_owned(),
    ]
}

/// `--update`: the report at `old` with what this run measured put in
/// place: its sections (replaced by heading, or added before "How it was
/// run", each marked with this run's date and load), its rows of the
/// target table and of the closing note, and its command lines. The
/// rest, the machine table included, stays as the last full run wrote it.
fn update(old: &str, m: &Machine, doc: &Doc, v: &Verdicts, only: &str) -> String {
    let mut lines: Vec<String> = old.lines().map(str::to_owned).collect();
    let how = "## How it was run";
    // Sections, one block per `## ` heading.
    let mut blocks: Vec<Vec<String>> = Vec::new();
    for l in doc.sections.lines() {
        if l.starts_with("## ") || blocks.is_empty() {
            blocks.push(Vec::new());
        }
        blocks.last_mut().unwrap().push(l.to_owned());
    }
    for mut b in blocks {
        let stamp = format!(
            "*This section was measured alone, by `scripts/bench.sh --update --only {only}` on {}, load average {}; the rest of the file comes from the full run whose machine is described at the end.*",
            m.date,
            m.load
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        b.splice(1..1, [String::new(), stamp]);
        if b.last().is_some_and(|l| !l.is_empty()) {
            b.push(String::new());
        }
        let at = lines.iter().position(|l| *l == b[0]);
        let (from, to) = match at {
            Some(i) => {
                let end = lines[i + 1..]
                    .iter()
                    .position(|l| l.starts_with("## "))
                    .map_or(lines.len(), |k| i + 1 + k);
                (i, end)
            }
            None => {
                let i = lines.iter().position(|l| l == how).unwrap_or(lines.len());
                (i, i)
            }
        };
        lines.splice(from..to, b);
    }
    // The target table's rows measured here.
    let measured: Vec<usize> = (0..TARGETS.len())
        .filter(|&i| !v.parts[i].is_empty() || !v.unjudged[i].is_empty())
        .collect();
    let targets = lines.iter().position(|l| l == "## Targets");
    for &i in &measured {
        let row = format!("| {} |", target_row(v, i).join(" | "));
        let prefix = format!("| {} |", TARGETS[i].0);
        if let Some(k) = lines.iter().position(|l| l.starts_with(&prefix)) {
            lines[k] = row;
        } else if let Some(t) = targets {
            // After the table's last row.
            let mut end = t;
            for (k, l) in lines.iter().enumerate().skip(t + 1) {
                if l.starts_with("## ") {
                    break;
                }
                if l.starts_with("| ") {
                    end = k;
                }
            }
            lines.insert(end + 1, row);
        }
    }
    if let Some(k) = lines
        .iter()
        .position(|l| l.starts_with("A part that missed its target"))
    {
        lines[k] = LEGEND.to_owned();
    }
    // The closing note: drop the bullets of the rows measured here, add
    // the ones they missed.
    if let Some(c) = lines.iter().position(|l| l.starts_with("**Closing note")) {
        let mut bullets: Vec<String> = lines[c + 1..]
            .iter()
            .skip_while(|l| l.is_empty())
            .take_while(|l| l.starts_with("- *"))
            .filter(|l| {
                !measured
                    .iter()
                    .any(|&i| l.starts_with(&format!("- *{}*:", TARGETS[i].0)))
            })
            .cloned()
            .collect();
        for &i in &measured {
            if v.met(i) == Some(false) {
                bullets.push(format!("- *{}*: {}", TARGETS[i].0, why(i, v)));
            }
        }
        let end = lines[c + 1..]
            .iter()
            .position(|l| l.starts_with("## "))
            .map_or(lines.len(), |k| c + 1 + k);
        let mut note = Vec::new();
        if bullets.is_empty() {
            note.push("**Closing note:** every target measured in this run is met.".to_owned());
        } else {
            note.push("**Closing note: missed targets, and why.**".to_owned());
            note.push(String::new());
            note.extend(bullets);
        }
        note.push(String::new());
        note.push(String::new());
        lines.splice(c..end, note);
    }
    // Command lines this run used that the file does not show yet.
    if let Some(h) = lines.iter().position(|l| l == how) {
        if let Some(close) = lines[h + 2..].iter().position(|l| l == "```") {
            let close = h + 2 + close;
            let new: Vec<String> = doc
                .commands
                .iter()
                .filter(|c| !lines.contains(c))
                .cloned()
                .collect();
            lines.splice(close..close, new);
        }
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Which targets were missed, and why (the explanations were found by
/// looking at the code and the counts; see each one).
fn closing_note(v: &Verdicts) -> String {
    let missed: Vec<usize> = (0..TARGETS.len())
        .filter(|&i| v.met(i) == Some(false))
        .collect();
    let mut s = String::new();
    if missed.is_empty() {
        let _ = writeln!(
            s,
            "**Closing note:** every target measured in this run is met.\n"
        );
        return s;
    }
    let _ = writeln!(s, "**Closing note: missed targets, and why.**\n");
    for i in missed {
        let _ = writeln!(s, "- *{}*: {}", TARGETS[i].0, why(i, v));
    }
    s.push('\n');
    s
}

fn why(row: usize, v: &Verdicts) -> String {
    let missed: Vec<&str> = v.parts[row]
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(m, _)| m.as_str())
        .collect();
    let mut s = format!("missed: {}.", missed.join("; "));
    if row == R_C10K && missed.iter().any(|m| m.contains("memory")) {
        s.push_str(" Memory: the epoll backend keeps, per registration, a slot (fd, token, interest, optional waker: 24 bytes) in a Vec, and a 4-byte entry per fd number up to the highest registered in its fd-indexed table (src/poll/fdmap.rs). Both grow by doubling, so at 10,000 registrations of the lowest free numbers each holds 16,384 entries: 16,384 × 24 + 16,384 × 4 = 458,752 bytes, 45.9 bytes per fd. A figure above that means the fds' numbers were sparse (the table reaches the highest number) or the slot Vec grew further.");
    }
    let mut noted = false;
    for (key, n) in &v.notes[row] {
        if key.is_empty() || missed.iter().any(|m| m.contains(key)) {
            s.push(' ');
            s.push_str(n);
            noted = true;
        }
    }
    let memory_explained = row == R_C10K && missed.iter().any(|m| m.contains("memory"));
    if !noted && !memory_explained {
        s.push_str(" See the section below.");
    }
    s
}
