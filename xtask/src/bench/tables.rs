//! The bench's tables: medians side by side, with ratios and targets.

use super::*;

/// The cluster beside one node.
pub(super) fn print_cluster_table(results: &BTreeMap<&str, BTreeMap<String, Vec<f64>>>) {
    let get = |scenario: &str, key: &str| {
        results
            .get(scenario)?
            .get(key)
            .and_then(|v| median(v.clone()))
    };
    if get("fanout-1node", "per_second").is_none() {
        return;
    }
    println!("\npodnet across 3 nodes sharing players through Redis, same run");
    println!(
        "{:<40} {:>12} {:>12} {:>10} {:>10}",
        "", "3 nodes", "1 node", "ratio", "target"
    );
    let (three, one) = (
        get("fanout-3nodes", "per_second"),
        get("fanout-1node", "per_second"),
    );
    println!(
        "{:<40} {:>12} {:>12} {:>10} {:>10}",
        "send_to_all, 100 players (deliveries/s)",
        show(three),
        show(one),
        over(three, one),
        ">= 0.5x"
    );
    for (label, key) in [
        ("broadcast latency p50 (us)", "p50_us"),
        ("broadcast latency p99 (us)", "p99_us"),
    ] {
        let (other, same) = (
            get("latency-other-node", key),
            get("latency-same-node", key),
        );
        println!(
            "{:<40} {:>12} {:>12} {:>10} {:>10}",
            format!("{label}: other node / same node"),
            show(other),
            show(same),
            match (other, same) {
                (Some(a), Some(b)) => format!("+{:.0}", a - b),
                _ => "-".into(),
            },
            if key == "p99_us" { "+<= 1000" } else { "" }
        );
    }
}

/// A figure as the tables show it, or "-" where there is none.
fn show(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}

/// `a` over `b` as the tables show it ("1.07x"), or "-".
fn over(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

pub(super) fn print_table(
    results: &BTreeMap<&str, BTreeMap<&str, BTreeMap<String, Vec<f64>>>>,
    kinds: &[ServerKind],
    runs: usize,
) {
    let get = |kind: &str, row: &Row| {
        results
            .get(kind)?
            .get(row.scenario)?
            .get(row.key)
            .and_then(|v| median(v.clone()))
    };
    if ROWS.iter().all(|row| get("podnet", row).is_none()) {
        // Only other scenarios ran (`--scenario tick`).
        print_tick_table(&get_any(results));
        return;
    }
    println!(
        "\npodnet beside a plain tokio baseline and the lean one (one thread, no locks, no \
         channels, no allocation per message), same run, median of {runs}"
    );
    print!(
        "{:<40} {:>12} {:>12} {:>16} {:>9} {:>12} {:>12} {:>9}",
        "", "podnet", "baseline", "podnet/baseline", "target", "lean", "podnet/lean", "target"
    );
    let repod = kinds.iter().any(|k| k.name == "repod");
    let before = kinds.iter().any(|k| k.name == "before");
    if repod {
        print!(" {:>12}", "repod");
    }
    if before {
        print!(" {:>12} {:>14}", "before", "podnet/before");
    }
    println!();
    for row in ROWS {
        let podnet = get("podnet", row);
        let baseline = get("baseline", row);
        let ratio = over(podnet, baseline);
        let lean = get("lean", row);
        let lean_ratio = over(podnet, lean);
        print!(
            "{:<40} {:>12} {:>12} {:>16} {:>9} {:>12} {:>12} {:>9}",
            row.label,
            show(podnet),
            show(baseline),
            ratio,
            row.target,
            show(lean),
            lean_ratio,
            row.lean_target
        );
        if repod {
            print!(" {:>12}", show(get("repod", row)));
        }
        if before {
            let earlier = get("before", row);
            let ratio = over(podnet, earlier);
            print!(" {:>12} {:>14}", show(earlier), ratio);
        }
        println!();
    }
    // podnet with two network threads, where it ran.
    let row = ROWS.iter().find(|r| r.scenario == "throughput8");
    if let Some((row, p, b)) =
        row.and_then(|row| Some((row, get("podnet-2t", row)?, get("baseline", row)?)))
    {
        println!(
            "{:<40} {:>12.1} {:>12.1} {:>16} {:>9}",
            "  the same, network_threads = 2",
            p,
            b,
            format!("{:.2}x", p / b),
            row.target
        );
    }
    // The game-loop view: podnet client and server, both through pump(), against the
    // baseline's own client and server.
    if let (Some(p), Some(b)) = (
        results
            .get("podnet")
            .and_then(|r| r.get("rtt-pump"))
            .and_then(|r| r.get("p50_us"))
            .and_then(|v| median(v.clone())),
        results
            .get("baseline")
            .and_then(|r| r.get("rtt"))
            .and_then(|r| r.get("p50_us"))
            .and_then(|v| median(v.clone())),
    ) {
        println!(
            "{:<40} {:>12.1} {:>12.1} {:>16} {:>9}",
            "pump() client+server vs baseline p50 (us)",
            p,
            b,
            format!("{:.2}x", p / b),
            "<= 1.5x"
        );
    }
    print_modes_table(&get_any(results));
    print_websocket_table(&get_any(results));
    print_resume_table(&get_any(results));
    print_tick_table(&get_any(results));
}

/// The two network modes beside the lean server doing the same check of every payload:
/// (label, scenario, key, target against lean+check).
const MODE_ROWS: &[(&str, &str, &str, &str)] = &[
    (
        "throughput, 1 client (msg/s)",
        "throughput1",
        "per_second",
        ">= 0.7x",
    ),
    (
        "throughput, 8 clients (msg/s)",
        "throughput8",
        "per_second",
        ">= 0.7x",
    ),
    ("round trip p50 (us)", "rtt", "p50_us", "<= 1.2x"),
    ("round trip p99 (us)", "rtt", "p99_us", "<= 1.3x"),
    (
        "fan-out, 100 clients (deliveries/s)",
        "fanout",
        "per_second",
        ">= 0.95x",
    ),
    (
        "server CPU per message, 1 client (ns)",
        "throughput1",
        "ns_per_msg",
        "<= 1.5x",
    ),
    (
        "server CPU per message, 8 clients (ns)",
        "throughput8",
        "ns_per_msg",
        "<= 1.5x",
    ),
    (
        "server CPU per delivery, fan-out (ns)",
        "fanout",
        "ns_per_msg",
        "",
    ),
];

/// podnet with its network on a thread and inside pump(), beside lean+check.
pub(super) fn print_modes_table(get: &dyn Fn(&str, &str, &str) -> Option<f64>) {
    if get("podnet-pump", "throughput1", "per_second").is_none() {
        return;
    }
    println!(
        "
podnet's two network modes beside the lean server doing podnet's check of every \
         payload (lean+check: the same guarantee, one thread), same run"
    );
    println!(
        "{:<40} {:>12} {:>12} {:>12} {:>12} {:>12} {:>9}",
        "", "thread", "pump", "lean+check", "thread/l+c", "pump/l+c", "target"
    );
    for (label, scenario, key, target) in MODE_ROWS {
        let thread = get("podnet", scenario, key);
        let pump = get("podnet-pump", scenario, key);
        let lean = get("lean+check", scenario, key);
        println!(
            "{label:<40} {:>12} {:>12} {:>12} {:>12} {:>12} {:>9}",
            show(thread),
            show(pump),
            show(lean),
            over(thread, lean),
            over(pump, lean),
            target
        );
    }
}

/// The game-tick rows: (label, key, target against the baseline).
const TICK_ROWS: &[(&str, &str, &str)] = &[
    ("server CPU (% of a core)", "cpu_pct", "<= 1.1x"),
    ("input to state p50 (ms)", "p50_ms", ""),
    ("input to state p99 (ms)", "p99_ms", "<= 52 ms"),
    ("input to state max (ms)", "max_ms", ""),
    ("step to client p50 (ms)", "delivery_p50_ms", ""),
    ("step to client p99 (ms)", "delivery_p99_ms", ""),
    ("step to client max (ms)", "delivery_max_ms", "<= 20 ms"),
    ("states delivered per second", "deliveries_per_second", ""),
    ("inputs per second", "inputs_per_second", ""),
    ("lost (states or inputs)", "lost", "0"),
    ("server RSS (MiB)", "rss_mib", ""),
];

/// The game tick: a real game's load rather than pipelined bursts.
pub(super) fn print_tick_table(get: &dyn Fn(&str, &str, &str) -> Option<f64>) {
    let Some(players) = get("podnet", "tick", "players") else {
        return;
    };
    println!(
        "\nthe game tick, same run: {players:.0} players in rooms of 10, 30 inputs a second each, \
         every room stepped 20 times a second (a 256-byte state to its players)"
    );
    let repod_players = get("repod", "tick", "players");
    let pump = get("podnet-pump", "tick", "players").is_some();
    print!(
        "{:<36} {:>12} {:>12} {:>16} {:>10}",
        "", "podnet", "baseline", "podnet/baseline", "target"
    );
    if pump {
        print!(" {:>12} {:>14}", "pump mode", "pump/baseline");
    }
    if let Some(n) = repod_players {
        print!(" {:>16}", format!("repod ({n:.0})"));
    }
    // `--against`: the other build of podnet's server.
    let before = get("before", "tick", "players").is_some();
    if before {
        print!(" {:>12} {:>14}", "before", "podnet/before");
    }
    println!();
    for (label, key, target) in TICK_ROWS {
        let podnet = get("podnet", "tick", key);
        let baseline = get("baseline", "tick", key);
        let ratio = over(podnet, baseline);
        print!(
            "{label:<36} {:>12} {:>12} {:>16} {:>10}",
            show(podnet),
            show(baseline),
            ratio,
            target
        );
        if pump {
            let pumped = get("podnet-pump", "tick", key);
            let ratio = over(pumped, baseline);
            print!(" {:>12} {:>14}", show(pumped), ratio);
        }
        if repod_players.is_some() {
            print!(" {:>16}", show(get("repod", "tick", key)));
        }
        if before {
            let other = get("before", "tick", key);
            let ratio = over(podnet, other);
            print!(" {:>12} {:>14}", show(other), ratio);
        }
        println!();
    }
}

/// What resume costs, and how fast it is.
pub(super) fn print_resume_table(get: &dyn Fn(&str, &str, &str) -> Option<f64>) {
    if get("podnet", "resume-time", "p50_ms").is_none() {
        return;
    }
    println!("\npodnet with session resume, same run, same server (throughput: 3 pairs a run)");
    println!(
        "{:<32} {:>12} {:>12} {:>10} {:>9}",
        "", "resume on", "resume off", "on/off", "target"
    );
    for (label, on, off, target) in RESUME_ROWS {
        let (on, off) = (
            get("podnet", on, "per_second"),
            get("podnet", off, "per_second"),
        );
        let ratio = over(on, off);
        println!(
            "{:<32} {:>12} {:>12} {:>10} {:>9}",
            label,
            show(on),
            show(off),
            ratio,
            target
        );
    }
    let time = |key| get("podnet", "resume-time", key);
    println!(
        "cut to resumed, default backoff (ms): p50 {} p99 {} max {}; bound = first backoff {} \
         ms + 1 ms timer tick + 2 round trips of {} us = {} ms; cuts within it: {} of {} \
         (target: all)",
        show(time("p50_ms")),
        show(time("p99_ms")),
        show(time("max_ms")),
        show(time("backoff_ms")),
        show(time("rtt_us")),
        time("bound_ms").map_or("-".into(), |v| format!("{v:.2}")),
        show(time("within")),
        show(time("cuts")),
    );
    let now = |key| get("podnet", "resume-time-0", key);
    let rtt2 = now("rtt_us").map(|r| 2.0 * r);
    let ratio = |v: Option<f64>| over(v, rtt2);
    println!(
        "no backoff, noticed to resumed (us): p50 {} ({} of 2 round trips, {} us), p99 {} ({}); \
         cut to resumed p50 {} ms",
        show(now("noticed_p50_us")),
        ratio(now("noticed_p50_us")),
        show(rtt2),
        show(now("noticed_p99_us")),
        ratio(now("noticed_p99_us")),
        now("p50_ms").map_or("-".into(), |v| format!("{v:.2}")),
    );
}

/// A lookup of medians: (server, scenario, key) -> value.
fn get_any<'a>(
    results: &'a BTreeMap<&str, BTreeMap<&str, BTreeMap<String, Vec<f64>>>>,
) -> impl Fn(&str, &str, &str) -> Option<f64> + 'a {
    move |kind, scenario, key| {
        results
            .get(kind)?
            .get(scenario)?
            .get(key)
            .and_then(|v| median(v.clone()))
    }
}

/// podnet over WebSocket beside podnet over TCP and the plain tokio-tungstenite server.
pub(super) fn print_websocket_table(get: &dyn Fn(&str, &str, &str) -> Option<f64>) {
    if get("podnet", "ws-rtt", "p50_us").is_none() {
        return;
    }
    println!("\npodnet over WebSocket, same run, same server");
    println!(
        "{:<32} {:>12} {:>12} {:>8} {:>8} {:>12} {:>14} {:>8}",
        "",
        "podnet ws",
        "podnet tcp",
        "ws/tcp",
        "target",
        "ws-baseline",
        "ws/ws-baseline",
        "target"
    );
    for (label, ws, tcp, key, tcp_target, base_target) in WS_ROWS {
        let podnet = get("podnet", ws, key);
        let over_tcp = get("podnet", tcp, key);
        let baseline = get("ws-baseline", ws, key);
        println!(
            "{:<32} {:>12} {:>12} {:>8} {:>8} {:>12} {:>14} {:>8}",
            label,
            show(podnet),
            show(over_tcp),
            over(podnet, over_tcp),
            tcp_target,
            show(baseline),
            over(podnet, baseline),
            base_target
        );
    }
}
