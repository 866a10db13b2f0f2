//! Two small hand-written SVG charts for the benchmark report: grouped bars
//! (throughput per scenario) and lines on a log axis (latency CDFs). Plain
//! text output, no fonts or system libraries needed to produce them.

use std::fmt::Write as _;

/// Colours of the series, in order.
const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

const W: f64 = 860.0;
const H: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 60.0;
const BOTTOM: f64 = 110.0;

/// Escapes text for an SVG text node or attribute.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn header(title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    s
}

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

/// Draws the legend in rows below the title; returns the top of the plot
/// area under it.
fn legend(s: &mut String, names: &[String]) -> f64 {
    let (mut x, mut y) = (LEFT, 32.0);
    for (i, n) in names.iter().enumerate() {
        let w = 24.0 + 7.0 * n.chars().count() as f64;
        if x + w > W - RIGHT && x > LEFT {
            x = LEFT;
            y += 16.0;
        }
        let c = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{c}"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            x + 14.0,
            y + 9.0,
            esc(n)
        );
        x += w;
    }
    y + 26.0
}

/// Grouped vertical bars: `values[series][category]` (`None` = no bar),
/// labelled with the value on top.
pub(crate) fn bar_chart(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
) -> String {
    let mut s = header(title);
    let names: Vec<String> = series.iter().map(|(n, _)| n.clone()).collect();
    let top = legend(&mut s, &names);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let ymax = nice_max(max * 1.1);
    let (pw, ph) = (W - LEFT - RIGHT, H - top - BOTTOM);
    let y = |v: f64| top + ph - v / ymax * ph;
    for i in 0..=5 {
        let v = ymax * f64::from(i) / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{0}" y1="{1}" y2="{1}" stroke="#ddd"/>"##,
            W - RIGHT,
            y(v)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y(v) + 4.0,
            fmt_num(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + ph / 2.0,
        esc(y_label)
    );
    let n = categories.len().max(1) as f64;
    let group_w = pw / n;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (ci, cat) in categories.iter().enumerate() {
        // The bars present in this category, centred in its slot.
        let present = series
            .iter()
            .filter(|(_, v)| matches!(v.get(ci), Some(Some(_))))
            .count();
        let gx = LEFT
            + group_w * ci as f64
            + group_w * 0.1
            + bar_w * (series.len() - present) as f64 / 2.0;
        let mut k = 0.0;
        for (si, (_, vals)) in series.iter().enumerate() {
            let Some(Some(v)) = vals.get(ci) else {
                continue;
            };
            let x = gx + bar_w * k;
            k += 1.0;
            let c = COLOURS[si % COLOURS.len()];
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{c}"/>"#,
                y(*v),
                bar_w * 0.95,
                top + ph - y(*v)
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                x + bar_w / 2.0,
                y(*v) - 3.0,
                fmt_num(*v)
            );
        }
        let lx = LEFT + group_w * (ci as f64 + 0.5);
        let ly = top + ph + 14.0;
        let _ = writeln!(
            s,
            r#"<text transform="translate({lx:.1},{ly:.1}) rotate(30)" text-anchor="start">{}</text>"#,
            esc(cat)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{0}" y1="{1}" y2="{1}" stroke="#333"/>"##,
        W - RIGHT,
        top + ph
    );
    s.push_str("</svg>\n");
    s
}

/// Latency CDF lines: each series is `(name, [(percentile, microseconds)])`;
/// the x axis (latency) is logarithmic; the y axis is in "nines" (p90 is one
/// step above p0, p99 two, p99.9 three, the max at four), so the tail is as
/// visible as the median.
pub(crate) fn cdf_chart(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let mut s = header(title);
    let names: Vec<String> = series.iter().map(|(n, _)| n.clone()).collect();
    let top = legend(&mut s, &names);
    let pts = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, us)| us))
        .filter(|&v| v > 0.0);
    let (lo, hi) = pts.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi <= 0.0 {
        (1.0, 10.0)
    } else {
        (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        )
    };
    let hi = if hi <= lo { lo * 10.0 } else { hi };
    let (pw, ph) = (W - LEFT - RIGHT, H - top - 60.0);
    let x = |us: f64| LEFT + (us.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * pw;
    let y = |p: f64| top + ph - nines(p) / MAX_NINES * ph;
    let mut decade = lo;
    while decade <= hi * 1.0001 {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{top}" y2="{1}" stroke="#ddd"/>"##,
            x(decade),
            top + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(decade),
            top + ph + 16.0,
            fmt_us(decade)
        );
        decade *= 10.0;
    }
    for p in [0.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{0}" y1="{1:.1}" y2="{1:.1}" stroke="#eee"/>"##,
            W - RIGHT,
            y(p)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y(p) + 4.0,
            if p >= 100.0 {
                "max".to_string()
            } else {
                format!("p{p}")
            }
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">latency (log scale)</text>"#,
        LEFT + pw / 2.0,
        top + ph + 34.0
    );
    for (i, (_, points)) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(p, us)| format!("{:.1},{:.1}", x(us), y(p)))
            .collect();
        if path.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Highest value of the "nines" axis (the max is drawn there).
const MAX_NINES: f64 = 4.0;

/// A percentile on the "nines" scale: -log10(1 - p/100), capped.
fn nines(p: f64) -> f64 {
    if p >= 100.0 {
        MAX_NINES
    } else {
        (-(1.0 - p / 100.0).log10()).min(MAX_NINES)
    }
}

/// 12345 -> "12.3k".
fn fmt_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Microseconds with a unit: 10us, 1ms, 1s.
fn fmt_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", us / 1e6)
    } else if us >= 1e3 {
        format!("{}ms", us / 1e3)
    } else {
        format!("{us}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bar chart holds one rect per present value (plus background and
    /// legend) and escapes its labels.
    #[test]
    fn bars_and_escaping() {
        let cats = vec!["a<b".to_string(), "c".to_string()];
        let series = vec![
            ("s1".to_string(), vec![Some(10.0), None]),
            ("s2".to_string(), vec![Some(5.0), Some(7.0)]),
        ];
        let svg = bar_chart("t", "req/s", &cats, &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect").count(), 1 + 2 + 3);
        assert!(svg.contains("a&lt;b"));
    }

    /// A CDF chart draws one polyline per non-empty series.
    #[test]
    fn cdf_lines() {
        let series = vec![
            (
                "x".to_string(),
                vec![(0.0, 10.0), (50.0, 100.0), (100.0, 1000.0)],
            ),
            ("empty".to_string(), vec![]),
        ];
        let svg = cdf_chart("t", &series);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains(">1ms<"));
    }
}
