//! Sections on sockets: 10,000 connections in two processes, accept
//! churn, blocking send/recv, UDP batches.

use crate::parent::{Runner, Timing};
use crate::report::*;
use crate::svg::bars_chart;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) fn c10k(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cells: Vec<(u64, u64)> = if r.quick {
        vec![(10, 10), (1_000, 10), (1_000, 1_000)]
    } else {
        crate::c10k::CELLS.to_vec()
    };
    let ms = if r.quick { 200 } else { 2000 };
    let rounds = if r.quick { 1 } else { r.rounds };
    let servers = crate::c10k::SERVERS;
    // results[cell].rounds[round][server] = the client's result. Rounds
    // are the outer loop, so every cell of a round runs within seconds of
    // the others, and a slow spell does not fall on one cell alone.
    let mut results: Vec<Timing> = cells
        .iter()
        .map(|_| Timing { rounds: Vec::new() })
        .collect();
    for round in 0..rounds {
        for (i, &(conns, active)) in cells.iter().enumerate() {
            let mut m = BTreeMap::new();
            for k in 0..servers.len() {
                let srv = servers[(round + i + k) % servers.len()];
                let (client, _) = r.c10k(&r.exe, srv, conns, active, ms);
                m.insert(srv.to_owned(), client);
            }
            results[i].rounds.push(m);
        }
    }
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    for (i, &(conns, active)) in cells.iter().enumerate() {
        let t = &results[i];
        let rt = t.ratio("ours-epoll", "floor-epoll", "echoes_per_s");
        v.add(
            R_C10K,
            format!("cell {conns}/{active}: {}", ratio(rt)),
            rt >= 0.95,
        );
        let (f, o) = (
            t.median("floor-epoll", "echoes_per_s"),
            t.median("ours-epoll", "echoes_per_s"),
        );
        bars.push((format!("{}/{}", short(conns), short(active)), f, o));
        rows.push(vec![
            format!("{conns}"),
            format!("{active}"),
            format!(
                "{:.0} ({:.0} – {:.0})",
                f,
                t.min("floor-epoll", "echoes_per_s"),
                t.max("floor-epoll", "echoes_per_s")
            ),
            format!(
                "{:.0} ({:.0} – {:.0})",
                o,
                t.min("ours-epoll", "echoes_per_s"),
                t.max("ours-epoll", "echoes_per_s")
            ),
            ratio(rt),
            format!("{:.2} s", t.median("ours-epoll", "connect_secs")),
        ]);
    }
    let spread: Vec<String> = cells
        .iter()
        .zip(&results)
        .map(|(&(c, a), t)| {
            let rs: Vec<f64> = t
                .rounds
                .iter()
                .filter_map(|m| {
                    Some(
                        m.get("ours-epoll")?["echoes_per_s"]
                            / m.get("floor-epoll")?["echoes_per_s"],
                    )
                })
                .collect();
            let lo = rs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{}/{}: {}–{}", short(c), short(a), ratio(lo), ratio(hi))
        })
        .collect();
    v.note_for(
        R_C10K,
        "cell ",
        format!(
            "Echoes per second here are two processes, server and client, on the machine's two shared cores, where other jobs run too: the per-round ratios ours / floor of each cell ranged over {}. The server's syscalls per echo are the floor's (one recv, one send, a share of a wait; see the counts).",
            spread.join(", ")
        ),
    );
    // No collapse: 10 active among many connections against 10 alone.
    if let (Some(a), Some(b)) = (
        cells.iter().position(|&c| c == (10, 10)),
        cells.iter().position(|&(n, a)| n > 10 && a == 10),
    ) {
        // Per round, the same server's two cells, then the median.
        let keep = |srv: &str| {
            crate::parent::median(
                results[b]
                    .rounds
                    .iter()
                    .zip(&results[a].rounds)
                    .filter_map(|(many, few)| {
                        Some(many.get(srv)?["echoes_per_s"] / few.get(srv)?["echoes_per_s"])
                    })
                    .collect(),
            )
        };
        let (o, f) = (keep("ours-epoll"), keep("floor-epoll"));
        v.add(
            R_C10K,
            format!(
                "no collapse: 10 active with {} idle keep {} of the echoes/s with none (floor {})",
                cells[b].0 - 10,
                ratio(o),
                ratio(f)
            ),
            o >= 0.5,
        );
    }
    // Our server's costs per echo (stats build), at the two ends.
    let mut crows = Vec::new();
    if let Some(exe) = &r.count_exe {
        for &(conns, active) in [cells[1], *cells.last().unwrap()].iter() {
            let (client, server) = r.c10k(exe, "ours-epoll", conns, active, ms);
            let _ = client;
            let sys = sys_of(&server);
            crows.push(vec![
                format!("{conns}/{active}"),
                count(server.get("sys_total").copied().unwrap_or(f64::NAN)),
                breakdown(&sys, 1.0),
                count(server["allocs_per_echo"]),
                count(server["registered"]),
            ]);
            let a = server["allocs_per_echo"];
            v.add(
                R_ALLOCS,
                format!("c10k server {conns}/{active} {}", count(a)),
                a == 0.0,
            );
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "## 10,000 connections, two processes\n");
    let _ = writeln!(
        s,
        "A server process (the floor's epoll loop, or ours on `Epoll`), pinned to CPU 0, echoes 1-byte messages; a client process (the floor's epoll loop, the same for both servers), pinned to the same CPU, opens the connections in batches of 500 (the backlog is 4096), waits for each one's first echo, then keeps one message in flight on each of the first `active` connections for {ms} ms and counts echoes, noting the time after each wait's batch; its figure is the high decile of the rates over windows of at least 20 ms between those notes (no batch cut in two). The server is level-triggered, one recv per readiness, 1024 events per wait. Median over {rounds} rounds (min – max); ratio is the median of per-round ratios ours / floor. Connect time: all connections established and echoed once.\n"
    );
    s.push_str(&table(
        &[
            "connections",
            "active",
            "floor echoes/s",
            "ours echoes/s",
            "ratio",
            "connect (ours)",
        ],
        &rows,
    ));
    if !crows.is_empty() {
        let _ = writeln!(
            s,
            "\nOur server's costs per echo (`stats` build, between the client's start and the end; the wait is shared by all the sockets one wait reports):\n"
        );
        s.push_str(&table(
            &[
                "cell",
                "syscalls / echo",
                "breakdown",
                "allocations / echo",
                "registered",
            ],
            &crows,
        ));
    }
    let _ = writeln!(s, "\n![echoes per second per cell]({CHART_DIR}/c10k.svg)\n");
    doc.charts.push(("c10k.svg", bars_chart(&bars)));
    doc.commands.push(
        "# 10,000 connections: a server and a client, driven through their stdin and stdout".into(),
    );
    doc.commands.push(format!(
        "netbench --child c10k-server SERVER conns=C   +   netbench --child c10k-client client port=P conns=C active=A ms={ms}"
    ));
    doc.sections.push_str(&s);
}

pub(crate) fn churn(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::churn::CONTENDERS;
    let t = r.timed("churn", &cs, &[("ms", r.ms(300))]);
    let (n1, n2) = if r.quick { (50, 150) } else { (200, 1200) };
    let counted = r.counted("churn", "ours", &[]);
    let mut instr = BTreeMap::new();
    let mut rows = Vec::new();
    for c in cs {
        let st = r.strace("churn", c, &[], n1, n2);
        if let Some(s) = &st {
            let f = s.get("fcntl").copied().unwrap_or(0.0);
            v.add(
                R_CHURN,
                format!("{c}: fcntl {} per connection (strace)", count(f)),
                f == 0.0,
            );
        }
        let stats = if c == "ours" { counted.as_ref() } else { None };
        rows.push(vec![
            format!("`{c}`"),
            ns(t.median(c, "ns_per_op")),
            format!(
                "{} – {}",
                ns(t.min(c, "ns_per_op")),
                ns(t.max(c, "ns_per_op"))
            ),
            ratio(t.ratio(c, "floor", "ns_per_op")),
            stats.map_or("–".into(), |o| breakdown(&sys_of(o), 1.0)),
            st.as_ref().map_or("–".into(), |s| breakdown(s, 1.0)),
            count(t.median(c, "allocs_per_op")),
            fmt_instr(
                *instr
                    .entry(c)
                    .or_insert_with(|| instructions(r, "churn", c, &[])),
            ),
        ]);
    }
    instr_note(v, R_CHURN, "per connection", instr["ours"], instr["floor"]);
    let x = t.ratio("ours", "floor", "ns_per_op");
    v.add(R_CHURN, format!("ratio {}", ratio(x)), x <= 1.03);
    if let Some(o) = &counted {
        let f = o.get("sys.fcntl").copied().unwrap_or(0.0);
        v.add(
            R_CHURN,
            format!("ours: fcntl {} per connection (stats)", count(f)),
            f == 0.0,
        );
    }
    let mut s = String::new();
    let _ = writeln!(s, "## Accept churn\n");
    let _ = writeln!(
        s,
        "One thread, one operation per connection: a blocking client `socket` + `connect` + `send`; the server's epoll loop sees the listener readable, `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`, registers the connection, sees it readable, receives, echoes, deregisters and closes; the client receives and closes. {}\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "contender",
            "median / connection",
            "min – max",
            "ratio (floor)",
            "syscalls (stats)",
            "strace, per connection",
            "allocations",
            "instructions",
        ],
        &rows,
    ));
    s.push('\n');
    doc.sections.push_str(&s);
}

pub(crate) fn blocking(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::blocking::CONTENDERS;
    let t = r.timed("blocking", &cs, &[("ms", r.ms(300))]);
    let (n1, n2) = if r.quick { (100, 300) } else { (300, 1300) };
    let counted = r.counted("blocking", "ours", &[]);
    let mut instr = BTreeMap::new();
    let mut rows = Vec::new();
    for c in cs {
        let st = r.strace("blocking", c, &[], n1, n2);
        let stats = if c == "ours" { counted.as_ref() } else { None };
        rows.push(vec![
            format!("`{c}`"),
            ns(t.median(c, "ns_per_op")),
            format!(
                "{} – {}",
                ns(t.min(c, "ns_per_op")),
                ns(t.max(c, "ns_per_op"))
            ),
            ratio(t.ratio(c, "floor", "ns_per_op")),
            stats.map_or("–".into(), |o| breakdown(&sys_of(o), 1.0)),
            st.as_ref().map_or("–".into(), |s| breakdown(s, 1.0)),
            count(t.median(c, "allocs_per_op")),
            fmt_instr(
                *instr
                    .entry(c)
                    .or_insert_with(|| instructions(r, "blocking", c, &[])),
            ),
        ]);
    }
    instr_note(
        v,
        R_BLOCKING,
        "per round trip",
        instr["ours"],
        instr["floor"],
    );
    let x = t.ratio("ours", "floor", "ns_per_op");
    v.add(R_BLOCKING, format!("ratio {}", ratio(x)), x <= 1.01);
    let mut s = String::new();
    let _ = writeln!(s, "## Blocking send/recv\n");
    let _ = writeln!(
        s,
        "No poller: a 1-byte round trip over one blocking loopback TCP connection in one thread (a sends, b receives and sends back, a receives); loopback delivers during the send, so no recv sleeps. One operation is a round trip, four syscalls. {}\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "contender",
            "median / round trip",
            "min – max",
            "ratio (floor)",
            "syscalls (stats)",
            "strace, per round trip",
            "allocations",
            "instructions",
        ],
        &rows,
    ));
    s.push('\n');
    doc.sections.push_str(&s);
}

pub(crate) fn udp(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let cs = crate::udp::CONTENDERS;
    let mut rows = Vec::new();
    let mut grows = Vec::new();
    let mut all_ratios_ok = true;
    let mut worst = (1.0f64, String::new());
    let mut gains_ok = true;
    for b in crate::udp::BATCHES {
        let p = [("batch", b.to_string()), ("ms", r.ms(250))];
        let t = r.timed("udp", &cs, &p);
        let bf = b as f64;
        for c in cs {
            let base = if c.ends_with("plain") {
                "floor-plain"
            } else {
                "floor-mmsg"
            };
            let x = t.ratio(c, base, "ns_per_op");
            if c.starts_with("ours") {
                all_ratios_ok &= x <= 1.03;
                if x > worst.0 || worst.1.is_empty() {
                    worst = (x, format!("{c} batch {b}"));
                }
            }
            let counted = if c.starts_with("ours") {
                r.counted("udp", c, &[("batch", b.to_string())])
            } else {
                None
            };
            rows.push(vec![
                b.to_string(),
                format!("`{c}`"),
                ns(t.median(c, "send_ns_per_op") / bf),
                ns(t.median(c, "recv_ns_per_op") / bf),
                ns(t.median(c, "ns_per_op") / bf),
                format!(
                    "{} – {}",
                    ns(t.min(c, "ns_per_op") / bf),
                    ns(t.max(c, "ns_per_op") / bf)
                ),
                ratio(x),
                counted
                    .as_ref()
                    .map_or("–".into(), |o| breakdown(&sys_of(o), 1.0)),
                count(t.median(c, "allocs_per_op")),
            ]);
        }
        // Batching gain: 1 - mmsg / plain, per half and overall, from the
        // per-round ratios.
        let gain = |who: &str, key: &str| {
            1.0 - t.ratio(&format!("{who}-mmsg"), &format!("{who}-plain"), key)
        };
        let mut row = vec![b.to_string()];
        for key in ["send_ns_per_op", "recv_ns_per_op", "ns_per_op"] {
            let (f, o) = (gain("floor", key), gain("ours", key));
            row.push(format!("{:.1}% / {:.1}%", f * 100.0, o * 100.0));
            if key == "ns_per_op" {
                gains_ok &= (o - f).abs() <= 0.03;
            }
        }
        grows.push(row);
    }
    v.add(
        R_UDP,
        format!("worst ratio {} ({})", ratio(worst.0), worst.1),
        all_ratios_ok,
    );
    v.add(
        R_UDP,
        "batching gains within 3 points of the floor's at every batch size".into(),
        gains_ok,
    );
    let mut s = String::new();
    let _ = writeln!(s, "## UDP batches\n");
    let _ = writeln!(
        s,
        "Datagrams of 32 bytes from a to b over connected, nonblocking loopback UDP sockets: a batch is sent with one `sendmmsg` (`mmsg`) or one `send` per datagram (`plain`), then received with one `recvmmsg` or one `recv` per datagram. The send half and the receive half are timed apart; times are per datagram. Our `recv_mmsg` needs fresh slots per call (the kernel overwrites their lengths), so each call builds them on the stack; the floor reuses its headers. {}Ratio: ours against the floor of the same mode, per batch.\n",
        timing_note(r.rounds)
    );
    s.push_str(&table(
        &[
            "batch",
            "contender",
            "send / datagram",
            "recv / datagram",
            "total / datagram",
            "min – max",
            "ratio",
            "syscalls / batch (stats)",
            "allocations / batch",
        ],
        &rows,
    ));
    let _ = writeln!(
        s,
        "\nBatching gain (1 − mmsg/plain, the median of per-round ratios), floor / ours:\n"
    );
    s.push_str(&table(&["batch", "send", "recv", "total"], &grows));
    let (n1, n2) = if r.quick { (50, 150) } else { (200, 1200) };
    let mut srows = Vec::new();
    let mut uinstr = BTreeMap::new();
    for c in cs {
        let p = [("batch", "32".to_owned())];
        let st = r.strace("udp", c, &p, n1, n2);
        let i = instructions(r, "udp", c, &p);
        uinstr.insert(c, i);
        srows.push(vec![
            format!("`{c}`"),
            st.map_or("–".into(), |st| breakdown(&st, 1.0)),
            fmt_instr(i),
        ]);
    }
    for mode in ["plain", "mmsg"] {
        instr_note(
            v,
            R_UDP,
            &format!("{mode}, per batch of 32"),
            uinstr[format!("ours-{mode}").as_str()],
            uinstr[format!("floor-{mode}").as_str()],
        );
    }
    let _ = writeln!(
        s,
        "\nA batch of 32: strace, and user-space instructions (callgrind) per batch:\n"
    );
    s.push_str(&table(&["contender", "syscalls", "instructions"], &srows));
    s.push('\n');
    doc.sections.push_str(&s);
}
