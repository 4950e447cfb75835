//! Accept balance (issue 13): the `workers` example in each `--balance`
//! mode, with 2, 4 and 8 threads, against a client process.

use crate::balance::{CONTENDERS, LOADS, RunResult, THREADS};
use crate::parent::{Runner, Timing};
use crate::report::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The figures of one server run, by name, for `Timing`.
fn figures(mode: &str, threads: usize, run: &RunResult) -> crate::harness::Out {
    let t = &run.threads;
    let sum = |f: fn(&crate::balance::ThreadCounts) -> u64| t.iter().map(f).sum::<u64>() as f64;
    let accepted = sum(|c| c.accepted);
    // handoff: the shares are the workers' (thread 0 only accepts); with
    // one thread it serves its own.
    let shares: Vec<u64> = if mode == "handoff" {
        if threads == 1 {
            t.iter().map(|c| c.received).collect()
        } else {
            t[1..].iter().map(|c| c.received).collect()
        }
    } else {
        t.iter().map(|c| c.accepted).collect()
    };
    let max = shares.iter().copied().max().unwrap_or(0) as f64;
    let min = shares.iter().copied().min().unwrap_or(0) as f64;
    let mut out = crate::harness::Out::new();
    out.insert("max_min".into(), max / min);
    let mut sorted = shares.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    for (i, s) in sorted.iter().enumerate() {
        out.insert(format!("share{i}"), *s as f64);
    }
    out.insert("accepted".into(), accepted);
    out.insert("served".into(), sum(|c| c.served));
    out.insert("emfile".into(), sum(|c| c.emfile_pauses));
    out.insert(
        "wake_per_accept".into(),
        sum(|c| c.listener_wakeups) / accepted,
    );
    out.insert(
        "empty_per_accept".into(),
        sum(|c| c.empty_wakeups) / accepted,
    );
    out.insert("waits_per_conn".into(), sum(|c| c.waits) / accepted);
    if mode == "handoff" && threads > 1 {
        out.insert(
            "worker_waits_per_conn".into(),
            t[1..].iter().map(|c| c.waits).sum::<u64>() as f64 / accepted,
        );
    }
    out.insert("sleeps_per_conn".into(), run.sleeps as f64 / accepted);
    out.insert("conns_per_s".into(), run.client["conns_per_s"]);
    out.insert("failed".into(), run.client["failed"]);
    out
}

/// The round whose `key` is the median one (for the shares column).
fn median_round<'a>(t: &'a Timing, c: &str, key: &str) -> Option<&'a crate::harness::Out> {
    let mut v: Vec<&crate::harness::Out> = t.rounds.iter().filter_map(|r| r.get(c)).collect();
    v.sort_by(|a, b| a[key].total_cmp(&b[key]));
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// Each thread's count, sorted, from the round with the median max / min.
fn shares(t: &Timing, c: &str, n: usize) -> String {
    median_round(t, c, "max_min").map_or("–".into(), |o| {
        (0..n)
            .filter_map(|k| o.get(&format!("share{k}")))
            .map(|s| format!("{s:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    })
}

fn max_min(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "∞".into()
    }
}

pub(crate) fn balance(r: &Runner, doc: &mut Doc, v: &mut Verdicts) {
    let conns: u64 = if r.quick { 2_000 } else { 10_000 };
    let rounds = r.rounds;
    let workers = crate::balance::workers_exe();
    // (client connections in flight, server threads)
    let cells: Vec<(u64, usize)> = LOADS
        .iter()
        .flat_map(|&l| THREADS.iter().map(move |&n| (l, n)))
        .collect();
    // results[cell] = rounds of every contender. Rounds are the outer
    // loop, the start rotated each round and each cell.
    let mut results: Vec<Timing> = cells
        .iter()
        .map(|_| Timing { rounds: Vec::new() })
        .collect();
    for round in 0..rounds {
        for (i, &(load, n)) in cells.iter().enumerate() {
            let mut m = BTreeMap::new();
            for k in 0..CONTENDERS.len() {
                let (name, mode, backend) = CONTENDERS[(round + i + k) % CONTENDERS.len()];
                let run = crate::balance::run(r, &workers, mode, backend, n, conns, load);
                m.insert(name.to_owned(), figures(mode, n, &run));
            }
            results[i].rounds.push(m);
        }
    }
    let mut rows = Vec::new();
    let mut failures = 0.0;
    let mut mismatched = 0;
    for (i, &(load, n)) in cells.iter().enumerate() {
        let t = &results[i];
        for &(c, mode, _) in &CONTENDERS {
            failures += t.values(c, "failed").iter().sum::<f64>();
            // A run whose server did not serve exactly the client's
            // connections (a retried client child would double them).
            mismatched += t
                .values(c, "served")
                .iter()
                .filter(|&&x| x != conns as f64)
                .count();
            let shares = shares(t, c, n);
            let handoff = mode == "handoff";
            rows.push(vec![
                load.to_string(),
                n.to_string(),
                format!("`{c}`"),
                format!(
                    "{} ({} – {})",
                    max_min(t.median(c, "max_min")),
                    max_min(t.min(c, "max_min")),
                    max_min(t.max(c, "max_min"))
                ),
                if handoff {
                    format!("{shares} (workers' received)")
                } else {
                    shares
                },
                format!(
                    "{} ({} empty)",
                    ratio(t.median(c, "wake_per_accept")),
                    ratio(t.median(c, "empty_per_accept"))
                ),
                if handoff && n > 1 {
                    format!(
                        "{} (workers {})",
                        ratio(t.median(c, "waits_per_conn")),
                        ratio(t.median(c, "worker_waits_per_conn"))
                    )
                } else {
                    ratio(t.median(c, "waits_per_conn"))
                },
                ratio(t.median(c, "sleeps_per_conn")),
                format!(
                    "{:.0} ({:.0} – {:.0})",
                    t.median(c, "conns_per_s"),
                    t.min(c, "conns_per_s"),
                    t.max(c, "conns_per_s")
                ),
                ratio(t.ratio(c, "reuseport-epoll", "conns_per_s")),
            ]);
        }
        let rp = t.median("reuseport-epoll", "max_min");
        v.add(
            R_BALANCE,
            format!(
                "reuseport {n} threads, {load} in flight: max/min {}",
                max_min(rp)
            ),
            rp <= 1.25,
        );
        for c in ["exclusive-epoll", "reuseport-epoll"] {
            let w = t.median(c, "wake_per_accept");
            v.add(
                R_BALANCE,
                format!(
                    "{} {n} threads, {load} in flight: {} wake-ups per accept",
                    c.trim_end_matches("-epoll"),
                    ratio(w)
                ),
                w <= 1.05,
            );
        }
    }
    v.add(
        R_BALANCE,
        format!(
            "failed connections {failures:.0}; runs whose server served other than {conns}: {mismatched}"
        ),
        failures == 0.0 && mismatched == 0,
    );
    v.note_for(
        R_BALANCE,
        "exclusive",
        "exclusive: EPOLLEXCLUSIVE wakes one waiting thread \"or more\" (epoll_ctl(2)); the excess over 1 is the empty wake-ups (see the table): on its walk to the first waiting thread the kernel also queues the listener on the ready list of each busy thread's epoll it passes (ep_poll_callback), and a busy thread that reaches epoll_wait before the woken one's accept4 reports it too, then finds the queue empty. See the section's skew paragraph.".into(),
    );
    v.unjudged(
        R_BALANCE,
        "cpu: not measured (the workers example has no `--balance cpu` yet)".into(),
    );
    // The herd and the skew at their clearest: one connection in flight,
    // the most threads.
    let light = cells
        .iter()
        .rposition(|&(l, _)| l == LOADS[0])
        .expect("a light cell");
    let nl = cells[light].1;
    let t = &results[light];
    v.unjudged(
        R_BALANCE,
        format!(
            "shown, {nl} threads, 1 in flight: shared on epoll {} thread sleeps per connection against reuseport's {}, {} listener wake-ups per accept ({} empty), on poll {} ({} empty); exclusive max/min {}",
            ratio(t.median("shared-epoll", "sleeps_per_conn")),
            ratio(t.median("reuseport-epoll", "sleeps_per_conn")),
            ratio(t.median("shared-epoll", "wake_per_accept")),
            ratio(t.median("shared-epoll", "empty_per_accept")),
            ratio(t.median("shared-poll", "wake_per_accept")),
            ratio(t.median("shared-poll", "empty_per_accept")),
            max_min(t.median("exclusive-epoll", "max_min")),
        ),
    );
    let loads = LOADS.map(|l| l.to_string()).join(" and ");
    // What a uniform hash alone gives: each thread's count is binomial
    // (conns, 1/N); the expected largest of N is about mean + k sigma and
    // the smallest mean - k sigma, k the expected maximum of N standard
    // normals (0.56, 1.03, 1.42 for N = 2, 4, 8).
    let chance: Vec<String> = THREADS
        .iter()
        .map(|&n| {
            let k = match n {
                2 => 0.564,
                4 => 1.029,
                _ => 1.424,
            };
            let nf = n as f64;
            let mean = conns as f64 / nf;
            let sigma = (conns as f64 * (1.0 / nf) * (1.0 - 1.0 / nf)).sqrt();
            format!("{:.2} at {n}", (mean + k * sigma) / (mean - k * sigma))
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "## Accept balance (issue 13)\n");
    let _ = writeln!(
        s,
        "The server is the `workers` example (`examples/workers.rs`, built with `cargo build --release --example workers`) in a process of its own: one event loop per thread, `--threads N`, `--balance MODE --backend B`. The client is another process (`netbench --child balance-client`): its threads open {conns} connections between them, one after another each (connect, send 8 bytes, read the echo whole, close), with {loads} client threads, so {loads} connections in flight (\"in flight\" below). With one in flight the server's threads are asleep when a connection arrives: that is where the herd and the skew show. With 8 the server is loaded: its threads are often busy when a connection arrives, and one wake-up accepts several. After the client is done, the parent reads the server threads' voluntary context switches from `/proc/PID/task/*/status`, sends SIGTERM, and reads the per-thread counts the server prints at exit. Each round runs every mode in every cell, the start rotated; figures are the median over {rounds} rounds (min – max beside some). Which thread wakes depends on how the scheduler interleaves the threads, so unlike the syscall counts these figures vary from round to round.\n"
    );
    let _ = writeln!(
        s,
        "- **max / min**: the busiest thread's accepts over the idlest one's (∞ when a thread accepted none). For `handoff` thread 0 accepts every connection and hands each to a worker in turn: the figure is over the workers' connections *received* (with 2 threads there is one worker, so it is 1 by construction). Beside it, each thread's count (sorted) from the round with the median max / min.\n- **listener wake-ups / accept**: the sum over the threads of the waits that reported the listener, over the connections accepted; in parentheses those that found nothing to accept (`accept4` gave `EAGAIN` at once). One wake-up may accept several connections (up to 64), so under load the figure drops below 1. For `handoff` only thread 0 watches the listener; the workers' wake-ups that handing off costs are in the next column.\n- **waits / connection**: every wait of every thread (the listener, the connections' message and end, the handoff waker, the 1-second tick) over the connections accepted: what a connection costs in waits whatever the mode. With one in flight a connection takes about three (accept, message, end); `handoff` adds the waker's wake-up of a worker, so its excess over `reuseport` is what handing off costs (in parentheses the workers' share). Under load one wait reports many events and the figure drops.\n- **sleeps / connection**: the worker threads' voluntary context switches over the connections: each is one time a thread went to sleep (in its wait, or on a lock) and was woken again. This is the kernel's side of the wake-ups, which the user-space counts cannot see.\n- **connections / s**: the client's rate ({conns} connections over its run time), which is the server's accept rate; ratio: the median of the per-round ratios to `reuseport-epoll` in the same cell.\n"
    );
    s.push_str(&table(
        &[
            "in flight",
            "threads",
            "mode",
            "max / min (min – max)",
            "per thread",
            "listener wake-ups / accept",
            "waits / connection",
            "sleeps / connection",
            "connections / s (min – max)",
            "ratio (reuseport)",
        ],
        &rows,
    ));
    let _ = writeln!(
        s,
        "\n**The herd (`shared`).** Every thread's poller watches the one listener, so a new connection makes it ready for all of them and the kernel wakes every thread asleep on it. Few of those wake-ups reach user space: after a wake-up both `epoll_wait` and `poll` check readiness again before they return (epoll in level mode re-polls each ready item, `ep_item_poll`; `poll` scans its fds again), so a thread woken for a connection another thread has already taken finds nothing to report and goes back to sleep inside the syscall. The empty wake-ups counted are the ones whose re-check ran before the winner's `accept4` emptied the queue (at {nl} threads, one in flight: {} per accept on `poll`, {} on `epoll`). The herd shows in full in the sleeps per connection: at {nl} threads, one in flight, `shared` on `epoll` makes {} sleeps per connection, `reuseport` {}.\n",
        ratio(t.median("shared-poll", "empty_per_accept")),
        ratio(t.median("shared-epoll", "empty_per_accept")),
        ratio(t.median("shared-epoll", "sleeps_per_conn")),
        ratio(t.median("reuseport-epoll", "sleeps_per_conn")),
    );
    let chance = chance.join(", ");
    let _ = writeln!(
        s,
        "**The skew (`exclusive`).** EPOLLEXCLUSIVE wakes one waiting thread per connection (or a few) instead of all, so its wake-ups per accept stay near 1; but the kernel walks the listener's wait queue in order and wakes the first thread waiting there. With one connection in flight the thread that took the last one is back in `epoll_wait` long before the next arrives, so the first threads in that order take most connections and the last ones few or none (at {nl} threads, one in flight, per thread: {}; Cloudflare, \"Why does one NGINX worker take all the load?\", 2017). Its wake-ups per accept sit a little above 1 ({} at {nl} threads, one in flight), and the excess is the empty ones ({} per accept): on its walk to the first waiting thread the kernel also puts the listener on the ready list of every thread's epoll it passes (`ep_poll_callback` queues the item before it looks for a waiter), so a thread busy at that moment finds the listener ready at its next `epoll_wait`, and when it gets there before the woken thread's `accept4`, both report it and one finds the queue empty. Under load the first threads are busy more often and the share spreads. `reuseport` gives each thread its own listener and the kernel hashes each connection's addresses and ports to one of them: one wake-up per connection, shares equal up to the hash's randomness, at any load: with {conns} connections hashed uniformly, chance alone gives a max / min of about {} threads. `handoff` is even by construction (round robin) at the price of a wake-up of a worker per connection and one thread's accept rate as the ceiling.\n",
        shares(t, "exclusive-epoll", nl),
        ratio(t.median("exclusive-epoll", "wake_per_accept")),
        ratio(t.median("exclusive-epoll", "empty_per_accept")),
        chance
    );
    let _ = writeln!(
        s,
        "**What 2 cores can and cannot show.** This machine has 2 cores, shared with other jobs, and the client runs on them too: 4 or 8 worker threads cannot all run at once, so connections per second cannot grow with the threads here and the rates are no scaling result (at most they show what more threads on the same cores cost). Balance and wake-ups do not need more cores: which threads the kernel wakes, and how many, is decided per connection whatever the core count, so max / min and wake-ups per accept at 8 threads mean what they say on 2 cores. The `cpu` mode (one listener per CPU, steered by the receiving CPU) does not exist in the workers example yet, so its goal is not measured.\n"
    );
    doc.commands
        .push("# accept balance: the workers example as the server, a client child".into());
    doc.commands.push(format!(
        "target/release/examples/workers --serve --threads N --balance MODE --backend B   +   netbench --child balance-client client port=P conns={conns} threads=L   (L in flight; then SIGTERM to the server)"
    ));
    doc.sections.push_str(&s);
}
