//! The report's charts, as SVG written by hand (no plotting dependency).

use crate::report::ns;
use std::fmt::Write as _;

pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(u64, f64)>,
}

pub(crate) fn color(name: &str) -> &'static str {
    if name.contains("epoll") {
        "#1f77b4"
    } else if name.contains("poll") {
        "#d62728"
    } else {
        "#2ca02c"
    }
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// Wait cost against idle fds: x evenly spaced over N, y logarithmic.
pub(crate) fn wait_chart(series: &[Series]) -> String {
    let (w, h) = (760.0, 440.0);
    let (l, rgt, top, bot) = (80.0, 190.0, 40.0, 60.0);
    let pw = w - l - rgt;
    let ph = h - top - bot;
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let lo = all
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let hi = all
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
        .log10()
        .ceil();
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (1.0, 7.0)
    };
    let xs: Vec<u64> = series
        .first()
        .map(|s| s.points.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    let xpos = |i: usize| l + pw * i as f64 / (xs.len().max(2) - 1) as f64;
    let ypos = |v: f64| top + ph * (1.0 - (v.log10() - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{}" y="22" text-anchor="middle" font-size="15">Wait cost with 1 ready fd and N idle (per wait, log scale)</text>"##,
        l + pw / 2.0
    );
    // Decades.
    let mut d = lo;
    while d <= hi {
        let y = ypos(10f64.powf(d));
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            l + pw,
            l - 6.0,
            y + 4.0,
            esc(&ns(10f64.powf(d)))
        );
        d += 1.0;
    }
    for (i, x) in xs.iter().enumerate() {
        let px = xpos(i);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{x}</text>"##,
            top + ph,
            top + ph + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">idle fds registered (N)</text>"##,
        l + pw / 2.0,
        h - 18.0
    );
    let _ = writeln!(
        s,
        r##"<rect x="{l}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    for (k, se) in series.iter().enumerate() {
        let c = color(&se.name);
        let dash = if se.name.starts_with("floor") {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let pts: Vec<String> = se
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1.is_finite() && p.1 > 0.0)
            .map(|(i, p)| format!("{:.1},{:.1}", xpos(i), ypos(p.1)))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"{dash}/>"##,
            pts.join(" ")
        );
        if !se.name.starts_with("floor") {
            for p in &pts {
                let (x, y) = p.split_once(',').unwrap();
                let _ = writeln!(s, r##"<circle cx="{x}" cy="{y}" r="3.5" fill="{c}"/>"##);
            }
        }
        let ly = top + 10.0 + 22.0 * k as f64;
        let lx = l + pw + 16.0;
        let _ = writeln!(
            s,
            r##"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{c}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"##,
            lx + 30.0,
            lx + 38.0,
            ly + 4.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Echoes per second per cell: floor and ours side by side.
pub(crate) fn bars_chart(cells: &[(String, f64, f64)]) -> String {
    let (w, h) = (760.0, 420.0);
    let (l, rgt, top, bot) = (90.0, 150.0, 40.0, 60.0);
    let pw = w - l - rgt;
    let ph = h - top - bot;
    let max = cells
        .iter()
        .flat_map(|c| [c.1, c.2])
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max)
        * 1.1;
    let max = if max > 0.0 { max } else { 1.0 };
    let step = nice_step(max / 5.0);
    let y = |v: f64| top + ph * (1.0 - v / max);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{}" y="22" text-anchor="middle" font-size="15">Echoes per second: connections / active (median)</text>"##,
        l + pw / 2.0
    );
    let mut g = 0.0;
    while g <= max {
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            y(g),
            l + pw,
            y(g),
            l - 6.0,
            y(g) + 4.0,
            if g == 0.0 {
                "0".to_owned()
            } else {
                format!("{:.0}k", g / 1000.0)
            }
        );
        g += step;
    }
    let gw = pw / cells.len().max(1) as f64;
    let bw = gw * 0.32;
    for (i, (label, f, o)) in cells.iter().enumerate() {
        let gx = l + gw * i as f64 + gw * 0.16;
        for (k, (v, c)) in [(*f, "#999"), (*o, "#1f77b4")].iter().enumerate() {
            let x = gx + bw * k as f64 + 2.0 * k as f64;
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{c}"/>"##,
                y(*v),
                top + ph - y(*v)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            gx + bw,
            top + ph + 18.0,
            esc(label)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{l}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    for (k, (name, c)) in [("floor-epoll", "#999"), ("ours-epoll", "#1f77b4")]
        .iter()
        .enumerate()
    {
        let ly = top + 10.0 + 22.0 * k as f64;
        let lx = l + pw + 16.0;
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{:.1}" width="14" height="12" fill="{c}"/><text x="{:.1}" y="{:.1}">{name}</text>"##,
            ly - 6.0,
            lx + 20.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">connections / active connections</text>"##,
        l + pw / 2.0,
        h - 18.0
    );
    s.push_str("</svg>\n");
    s
}

pub(crate) fn nice_step(x: f64) -> f64 {
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}
