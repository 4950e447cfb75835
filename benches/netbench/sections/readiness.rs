//! Sections on readiness: ping-pong per backend, wait cost against idle
//! fds, registration and memory per fd, cross-thread wake-up.

use crate::harness::Out;
use crate::parent::{Runner, Timing};
use crate::report::*;
use crate::svg::{Series, wait_chart};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) fn pingpong(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::pingpong::CONTENDERS;
    let t = r.timed("pingpong", &cs, &[("ms", r.ms(300))]);
    let (n1, n2) = if r.quick { (100, 300) } else { (300, 1300) };
    let mut strace = BTreeMap::new();
    let mut instr = BTreeMap::new();
    let mut counted = BTreeMap::new();
    for c in cs {
        if let Some(s) = r.strace("pingpong", c, &[], n1, n2) {
            strace.insert(c, s);
        }
        if c.starts_with("ours") {
            if let Some(o) = r.counted("pingpong", c, &[]) {
                counted.insert(c, o);
            }
        }
    }
    let (c1, c2) = if r.quick { (200, 1000) } else { (1000, 6000) };
    for c in cs {
        if let Some(i) = r.callgrind("pingpong", c, &[], c1, c2) {
            instr.insert(c, i);
        }
    }
    let mut rows = Vec::new();
    for c in cs {
        let f = floor_of(c);
        rows.push(vec![
            format!("`{c}`"),
            ns(t.median(c, "ns_per_op")),
            format!(
                "{} – {}",
                ns(t.min(c, "ns_per_op")),
                ns(t.max(c, "ns_per_op"))
            ),
            format!("{} (`{f}`)", ratio(t.ratio(c, f, "ns_per_op"))),
            counted
                .get(c)
                .map_or("–".into(), |o| count(o["sys_total"] / 2.0)),
            strace.get(c).map_or("–".into(), |s| count(sum(s) / 2.0)),
            strace.get(c).map_or("–".into(), |s| breakdown(s, 1.0)),
            count(t.median(c, "allocs_per_op")),
            instr.get(c).map_or("–".into(), |i| format!("{i:.0}")),
        ]);
    }
    let mut s = String::new();
    let _ = writeln!(s, "## TCP 1-byte ping-pong, one thread\n");
    let _ = writeln!(
        s,
        "Both ends of one loopback TCP connection (TCP_NODELAY) in one thread and one poller, level-triggered; one byte is always in flight, so each wait reports one socket, which receives the byte and sends it back. One operation is a round trip: two echoes. {}Syscalls per echo: the `stats` counters of the crate (ours only) and `strace -c -f` differenced between {n1} and {n2} round trips; the strace breakdown is per round trip. Instructions: callgrind, user space, differenced between {c1} and {c2} round trips.\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "contender",
            "median / round trip",
            "min – max",
            "ratio (floor)",
            "syscalls / echo (stats)",
            "syscalls / echo (strace)",
            "strace, per round trip",
            "allocations / round trip",
            "instructions / round trip",
        ],
        &rows,
    ));
    let _ = writeln!(
        s,
        "\n`mio` treats a short read as drained; `mio-drain` reads until WouldBlock, as mio's docs require for its edge-triggered registrations. `polling-oneshot` is polling's default mode, re-armed with `modify` after each event.\n"
    );

    // The verdicts.
    let r_epoll = t.ratio("ours-epoll", "floor-epoll", "ns_per_op");
    let r_poll = t.ratio("ours-poll", "floor-poll", "ns_per_op");
    let r_select = t.ratio("ours-select", "floor-select", "ns_per_op");
    let vs = |peer: &str| t.ratio("ours-epoll", peer, "ns_per_op");
    v.add(
        R_PINGPONG,
        format!("epoll {}", ratio(r_epoll)),
        r_epoll <= 1.02,
    );
    v.add(
        R_PINGPONG,
        format!("poll {}", ratio(r_poll)),
        r_poll <= 1.03,
    );
    v.add(
        R_PINGPONG,
        format!("select {}", ratio(r_select)),
        r_select <= 1.03,
    );
    for peer in ["polling-level", "polling-oneshot"] {
        let x = vs(peer);
        v.add(R_PINGPONG, format!("ours/{peer} {}", ratio(x)), x < 1.0);
    }
    for peer in ["mio", "mio-drain"] {
        let x = vs(peer);
        v.add(R_PINGPONG, format!("ours/{peer} {}", ratio(x)), x <= 1.01);
    }
    let _ = writeln!(
        s,
        "\"No slower than mio\" is judged as a median per-round ratio of `ours-epoll` to `mio` of at most 1.01: this machine cannot resolve a smaller difference between two loops that make the same syscalls.\n"
    );

    for c in ["ours-epoll", "ours-poll", "ours-select"] {
        let backend = c.trim_start_matches("ours-");
        if let Some(o) = counted.get(c) {
            let per_echo = sys_of(o);
            let total = o["sys_total"] / 2.0;
            v.add(
                R_SYSCALLS,
                format!("{backend} {} (stats)", count(total)),
                near(total, 3.0),
            );
            let _ = per_echo;
        }
        if let Some(st) = strace.get(c) {
            let total = sum(st) / 2.0;
            let extra: Vec<&String> = st
                .keys()
                .filter(|k| {
                    k.starts_with("epoll_ctl")
                        || k.starts_with("timerfd")
                        || k.starts_with("eventfd")
                        || k.as_str() == "read"
                })
                .collect();
            v.add(
                R_SYSCALLS,
                format!(
                    "{backend} {} (strace){}",
                    count(total),
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!(" with {extra:?}")
                    }
                ),
                near(total, 3.0) && extra.is_empty(),
            );
        }
        let a = t.median(c, "allocs_per_op");
        v.add(
            R_ALLOCS,
            format!("ping-pong {backend} {}", count(a)),
            a == 0.0,
        );
    }
    if let (Some(ours), Some(m), Some(md)) = (
        instr.get("ours-epoll"),
        instr.get("mio"),
        instr.get("mio-drain"),
    ) {
        v.add(
            R_INSTR,
            format!("ours-epoll {ours:.0}, mio {m:.0}, mio-drain {md:.0}"),
            ours <= m && ours <= md,
        );
    }
    if !instr.is_empty() {
        let pair = |b: &str| {
            format!(
                "{b} {:.0} / {:.0}",
                instr
                    .get(format!("ours-{b}").as_str())
                    .copied()
                    .unwrap_or(f64::NAN),
                instr
                    .get(format!("floor-{b}").as_str())
                    .copied()
                    .unwrap_or(f64::NAN)
            )
        };
        v.note(
            R_PINGPONG,
            format!(
                "Ours and the floor make the same syscalls (see the counts); the difference is user-space work, instructions per round trip ours / floor: {}, {}, {}, next to a round trip of about {} that is almost all kernel. Each of ours' waits also translates what the kernel reported into the shared Event (the interest mask, the extras) and, on select, tests a bit per set in use for each registration. The rest is the machine: see min – max.",
                pair("epoll"),
                pair("poll"),
                pair("select"),
                ns(t.median("floor-epoll", "ns_per_op"))
            ),
        );
        if let (Some(o), Some(m)) = (instr.get("ours-epoll"), instr.get("mio")) {
            v.note(
                R_INSTR,
                format!(
                    "ours-epoll {o:.0} against mio {m:.0} per round trip: mio hands back the kernel's epoll_event array as its events, where every backend here translates each event (token, interest mask, extras) into one shared Event type."
                ),
            );
        }
    }
    // epoll_pwait2 under valgrind: the fallback the instruction counts
    // rely on.
    if let (Some(native), Some(vg)) = (r.pwait2_native(), r.pwait2_under_valgrind()) {
        let get = |o: &Out, k: &str| o.get(k).copied().unwrap_or(0.0);
        let ok = near(get(&vg, "sys.epoll_pwait2"), 1.0)
            && near(get(&vg, "sys.epoll_wait"), 2.0)
            && near(get(&native, "sys.epoll_pwait2"), 2.0);
        let _ = writeln!(
            s,
            "epoll_pwait2 under valgrind: two 0.5 ms waits made {} epoll_pwait2 and {} epoll_wait under valgrind (which answers ENOSYS), and {} epoll_pwait2 natively: the fallback {} and is remembered. The ping-pong waits block (no timeout), so both paths make epoll_wait.\n",
            count(get(&vg, "sys.epoll_pwait2")),
            count(get(&vg, "sys.epoll_wait")),
            count(get(&native, "sys.epoll_pwait2")),
            if ok {
                "works"
            } else {
                "DID NOT behave as expected"
            }
        );
        if !ok {
            v.add(
                R_INSTR,
                "epoll_pwait2 fallback under valgrind misbehaved".into(),
                false,
            );
        }
    }
    doc.commands.push(format!(
        "# syscalls: strace, differenced between two run lengths N (ping-pong {n1} and {n2}; each section says its own)"
    ));
    doc.commands
        .push("strace -f -c -o FILE -- netbench --child WORKLOAD CONTENDER iters=N warm=50".into());
    doc.commands.push(format!(
        "# instructions: callgrind, differenced the same way (ping-pong {c1} and {c2})"
    ));
    doc.commands.push("valgrind --tool=callgrind --callgrind-out-file=FILE netbench --child WORKLOAD CONTENDER iters=N warm=50".into());
    doc.commands
        .push("# the epoll_pwait2 fallback under valgrind (stats build)".into());
    doc.commands
        .push("valgrind --tool=none -q netbench-stats --child pwait2 ours-epoll".into());
    doc.sections.push_str(&s);
}

pub(crate) fn waitcost(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::waitcost::CONTENDERS;
    let mut per_n: Vec<(u64, Timing)> = Vec::new();
    for n in crate::waitcost::IDLE {
        per_n.push((
            n,
            r.timed("waitcost", &cs, &[("n", n.to_string()), ("ms", r.ms(200))]),
        ));
    }
    let mut rows = Vec::new();
    for (n, t) in &per_n {
        let mut row = vec![n.to_string()];
        for c in cs {
            row.push(ns(t.median(c, "ns_per_op")));
        }
        for b in ["epoll", "poll", "select"] {
            row.push(ratio(t.ratio(
                &format!("ours-{b}"),
                &format!("floor-{b}"),
                "ns_per_op",
            )));
        }
        let grow = t.median("ours-select", "growable") > 0.5;
        row[0] = format!("{n}{}", if grow { " (select: growable)" } else { "" });
        rows.push(row);
    }
    let mut s = String::new();
    let _ = writeln!(s, "## Wait cost: 1 ready fd + N idle\n");
    let _ = writeln!(
        s,
        "One operation is one wait that reports the one ready fd (a Unix socket holding a byte never read); the N idle fds are unbound UDP sockets registered for reading. The ready fd is made and registered first (the lowest fd, the first entry), as in the issue's measurement; a second table puts it last. select uses `Select` (fd_set) while every fd is below FD_SETSIZE and `SelectGrowable` above it; the floor the same (an fd_set, or a word array sized to the highest fd). The child raises RLIMIT_NOFILE to its hard limit. {}\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "idle N",
            "floor-epoll",
            "ours-epoll",
            "floor-poll",
            "ours-poll",
            "floor-select",
            "ours-select",
            "ratio epoll",
            "ratio poll",
            "ratio select",
        ],
        &rows,
    ));
    // Slopes.
    let mut srows = Vec::new();
    let mut slopes = BTreeMap::new();
    for c in cs {
        let pts: Vec<(f64, f64)> = per_n
            .iter()
            .map(|(n, t)| (*n as f64, t.median(c, "ns_per_op")))
            .collect();
        slopes.insert(c, slope(&pts));
    }
    for b in ["epoll", "poll", "select"] {
        let (f, o) = (
            slopes[format!("floor-{b}").as_str()],
            slopes[format!("ours-{b}").as_str()],
        );
        srows.push(vec![
            b.to_owned(),
            format!("{f:.2}"),
            format!("{o:.2}"),
            // A ratio of two slopes near zero (epoll's) means nothing.
            if f.abs() < 0.5 {
                "–".into()
            } else {
                ratio(o / f)
            },
        ]);
    }
    let _ = writeln!(
        s,
        "\nSlope: least-squares fit of the medians against N, in ns per idle fd.\n"
    );
    s.push_str(&table(
        &[
            "backend",
            "floor ns / idle fd",
            "ours ns / idle fd",
            "ours / floor",
        ],
        &srows,
    ));
    // The ready fd last: the kernel queues a wait entry on every idle fd
    // before it finds the ready one, and every user-space scan walks all.
    let last_cs = ["floor-poll", "ours-poll", "floor-select", "ours-select"];
    let mut lrows = Vec::new();
    for n in [1_000u64, 10_000] {
        let p = [
            ("n", n.to_string()),
            ("ready", "last".to_owned()),
            ("ms", r.ms(200)),
        ];
        let t = r.timed("waitcost", &last_cs, &p);
        let mut row = vec![n.to_string()];
        for b in ["poll", "select"] {
            let (f, o) = (format!("floor-{b}"), format!("ours-{b}"));
            row.push(ns(t.median(&f, "ns_per_op")));
            row.push(ns(t.median(&o, "ns_per_op")));
            row.push(ratio(t.ratio(&o, &f, "ns_per_op")));
        }
        lrows.push(row);
    }
    let _ = writeln!(
        s,
        "\nThe ready fd last (made and registered after the idle ones): poll and select then queue a wait entry on every idle fd before they reach the ready one (once an fd is ready, the kernel stops queueing), and every user-space scan walks the whole table:\n"
    );
    s.push_str(&table(
        &[
            "idle N",
            "floor-poll",
            "ours-poll",
            "ratio poll",
            "floor-select",
            "ours-select",
            "ratio select",
        ],
        &lrows,
    ));
    // Counts: one syscall per wait, no allocation, at the ends of the range.
    let mut crows = Vec::new();
    for n in [0u64, 10_000] {
        for c in ["ours-epoll", "ours-poll", "ours-select"] {
            let p = [("n", n.to_string())];
            let Some(o) = r.counted("waitcost", c, &p) else {
                continue;
            };
            let total = o["sys_total"];
            v.add(
                R_SYSCALLS,
                format!("{c} wait with {n} idle: {} syscall", count(total)),
                near(total, 1.0),
            );
            crows.push(vec![
                format!("`{c}`"),
                n.to_string(),
                breakdown(&sys_of(&o), 1.0),
                count(o["allocs_per_op"]),
            ]);
        }
    }
    let (n1, n2) = if r.quick { (100, 300) } else { (300, 1300) };
    for c in cs {
        if let Some(st) = r.strace("waitcost", c, &[("n", "10".into())], n1, n2) {
            crows.push(vec![
                format!("`{c}` (strace)"),
                "10".into(),
                breakdown(&st, 1.0),
                "–".into(),
            ]);
        }
    }
    for (n, t) in &per_n {
        for c in ["ours-epoll", "ours-poll", "ours-select"] {
            let a = t.median(c, "allocs_per_op");
            if a != 0.0 {
                v.add(R_ALLOCS, format!("{c} wait, {n} idle: {}", count(a)), false);
            }
        }
    }
    v.add(
        R_ALLOCS,
        "wait with 0 … 10,000 idle: 0 on every backend".into(),
        per_n.iter().all(|(_, t)| {
            ["ours-epoll", "ours-poll", "ours-select"]
                .iter()
                .all(|c| t.median(c, "allocs_per_op") == 0.0)
        }),
    );
    if !crows.is_empty() {
        let _ = writeln!(s, "\nSyscalls and allocations per wait:\n");
        s.push_str(&table(
            &[
                "contender",
                "idle N",
                "syscalls / wait",
                "allocations / wait",
            ],
            &crows,
        ));
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "![wait cost against idle fds]({CHART_DIR}/wait-cost.svg)\n"
    );
    // Verdicts.
    let first = &per_n.first().unwrap().1;
    let last = &per_n.last().unwrap().1;
    let flat = last.median("ours-epoll", "ns_per_op") / first.median("ours-epoll", "ns_per_op");
    let floor_flat =
        last.median("floor-epoll", "ns_per_op") / first.median("floor-epoll", "ns_per_op");
    v.add(
        R_WAIT,
        format!(
            "epoll at 10,000 / at 0: {} (floor {})",
            ratio(flat),
            ratio(floor_flat)
        ),
        flat <= 1.05,
    );
    for b in ["poll", "select"] {
        let x = slopes[format!("ours-{b}").as_str()] / slopes[format!("floor-{b}").as_str()];
        v.add(
            R_WAIT,
            format!("{b} slope / floor's {}", ratio(x)),
            (0.8..=1.2).contains(&x),
        );
    }
    let per_n_ratio = |b: &str| {
        per_n
            .iter()
            .map(|(n, t)| {
                format!(
                    "{}: {}",
                    short(*n),
                    ratio(t.ratio(&format!("ours-{b}"), &format!("floor-{b}"), "ns_per_op"))
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    v.note(
        R_WAIT,
        format!(
            "Ours / floor per N, poll: {}; select: {}. At N = 10,000 one poll or select wait takes about {}, so a child times only a few hundred waits and those figures move from round to round; a slope is dominated by its N = 10,000 point. Beyond that, each of ours' waits scans its registrations in user space (the floor scans its fds the same way) and translates the one event.",
            per_n_ratio("poll"),
            per_n_ratio("select"),
            ns(last.median("floor-poll", "ns_per_op"))
        ),
    );
    // The chart.
    let series: Vec<Series> = cs
        .iter()
        .map(|c| Series {
            name: c.to_string(),
            points: per_n
                .iter()
                .map(|(n, t)| (*n, t.median(c, "ns_per_op")))
                .collect(),
        })
        .collect();
    doc.charts.push(("wait-cost.svg", wait_chart(&series)));
    doc.sections.push_str(&s);
}

pub(crate) fn register(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::register::CONTENDERS;
    let t = r.timed("register", &cs, &[("ms", r.ms(200))]);
    let (n1, n2) = if r.quick { (100, 300) } else { (300, 1300) };
    let mut rows = Vec::new();
    for c in cs {
        let counted = if c.starts_with("ours") {
            r.counted("register", c, &[])
        } else {
            None
        };
        let st = r.strace("register", c, &[], n1, n2);
        let g = |k: &str| counted.as_ref().and_then(|o| o.get(k).copied());
        if let Some(o) = &counted {
            let want = if c == "ours-epoll" { 1.0 } else { 0.0 };
            let got = [o["sys_register"], o["sys_reregister"], o["sys_deregister"]];
            v.add(
                R_REGISTER,
                format!(
                    "{}: {}/{}/{}",
                    c.trim_start_matches("ours-"),
                    count(got[0]),
                    count(got[1]),
                    count(got[2])
                ),
                got.iter().all(|x| near(*x, want)),
            );
        }
        rows.push(vec![
            format!("`{c}`"),
            ns(t.median(c, "ns_per_op")),
            format!(
                "{} – {}",
                ns(t.min(c, "ns_per_op")),
                ns(t.max(c, "ns_per_op"))
            ),
            if c.ends_with("epoll") {
                ratio(t.ratio(c, "floor-epoll", "ns_per_op"))
            } else {
                "–".into()
            },
            opt_count(g("sys_register")),
            opt_count(g("sys_reregister")),
            opt_count(g("sys_deregister")),
            st.as_ref().map_or("–".into(), |s| breakdown(s, 1.0)),
            count(t.median(c, "allocs_per_op")),
            fmt_instr(instructions(r, "register", c, &[])),
        ]);
    }
    let mut s = String::new();
    let _ = writeln!(s, "## Registration\n");
    let _ = writeln!(
        s,
        "One operation is register, reregister (another token and interest) and deregister of one fd, cycling through 500 unbound UDP sockets. Per-call syscalls: the `stats` counters around one call each; strace per operation. Only epoll's timing has a floor: poll and select registration is a change to a user-space table. {}\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "contender",
            "median / op",
            "min – max",
            "ratio (floor-epoll)",
            "register",
            "reregister",
            "deregister",
            "strace, per op",
            "allocations / op",
            "instructions / op",
        ],
        &rows,
    ));
    // Memory per registered fd.
    let mut mrows = Vec::new();
    for c in crate::register::MEMORY_CONTENDERS {
        let mut row = vec![format!("`{c}`")];
        for n in [1_000u64, 10_000] {
            let o = r.child(&r.exe, "regmem", c, &[("n", n.to_string())]);
            let b = o["bytes_per_fd"];
            if c == "ours-epoll" && n == 10_000 {
                v.add(R_C10K, format!("epoll memory {b:.1} bytes/fd"), b <= 64.0);
            }
            row.push(format!("{b:.1}"));
        }
        mrows.push(row);
    }
    let _ = writeln!(
        s,
        "\nHeap bytes per registered fd (the live-bytes delta of the counting allocator across registering N fds into a poller made beforehand, divided by N; kernel memory not included):\n"
    );
    s.push_str(&table(&["poller", "N = 1,000", "N = 10,000"], &mrows));
    s.push('\n');
    doc.sections.push_str(&s);
}

pub(crate) fn wake(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::wake::CONTENDERS;
    let t = r.timed("wake", &cs, &[("ms", r.ms(300))]);
    let (n1, n2) = if r.quick { (100, 300) } else { (300, 1300) };
    let mut rows = Vec::new();
    for c in cs {
        let counted = if c.starts_with("ours") {
            r.counted("wake", c, &[])
        } else {
            None
        };
        let st = r.strace("wake", c, &[], n1, n2);
        if let Some(o) = &counted {
            let sys = sys_of(o);
            let b = c.trim_start_matches("ours-");
            let (wait, want_read) = match b {
                "epoll" => ("epoll_wait", 0.0),
                "poll" => ("poll", 1.0),
                _ => ("pselect6", 1.0),
            };
            let g = |k: &str| sys.get(k).copied().unwrap_or(0.0);
            let ok = near(g("write"), 1.0)
                && near(g("read"), want_read)
                && near(g(wait), 1.0)
                && near(sum(&sys), 2.0 + want_read);
            v.add(R_WAKE, format!("{b}: {}", breakdown(&sys, 1.0)), ok);
            let idle = o.get("sys_idle_wait").copied().unwrap_or(f64::NAN);
            v.add(
                R_WAKE,
                format!("{b} idle wait {}", count(idle)),
                near(idle, 1.0),
            );
        }
        if c.starts_with("ours") {
            let a = t.median(c, "allocs_per_op");
            v.add(
                R_ALLOCS,
                format!("wake {} {}", c.trim_start_matches("ours-"), count(a)),
                a == 0.0,
            );
        }
        rows.push(vec![
            format!("`{c}`"),
            ns(t.median(c, "ns_per_op") / 2.0),
            format!(
                "{} – {}",
                ns(t.min(c, "ns_per_op") / 2.0),
                ns(t.max(c, "ns_per_op") / 2.0)
            ),
            format!(
                "{} (`{}`)",
                ratio(t.ratio(c, floor_of(c), "ns_per_op")),
                floor_of(c)
            ),
            counted
                .as_ref()
                .map_or("–".into(), |o| breakdown(&sys_of(o), 1.0)),
            counted.as_ref().map_or("–".into(), |o| {
                o.get("sys_idle_wait").map_or("–".into(), |x| count(*x))
            }),
            st.as_ref().map_or("–".into(), |s| breakdown(s, 0.5)),
            count(t.median(c, "allocs_per_op") / 2.0),
        ]);
    }
    let mut s = String::new();
    let _ = writeln!(s, "## Cross-thread wake-up\n");
    let _ = writeln!(
        s,
        "Two threads, each waiting on a poller of its own with a waker registered; one thread wakes the other, which wakes it back. Times are per wake (half a round). The `stats` counters are the measuring thread's, and per round that thread makes exactly one wake and one woken wait: its counts are the cost of one wake. strace counts both threads, halved. \"idle wait\": syscalls of a zero-timeout wait that nobody woke. mio's waker is an eventfd; polling's `notify` too. {}\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "contender",
            "median / wake",
            "min – max",
            "ratio (floor)",
            "syscalls / wake (stats)",
            "idle wait (stats)",
            "strace, per wake",
            "allocations / wake",
        ],
        &rows,
    ));
    s.push('\n');
    doc.sections.push_str(&s);
}
