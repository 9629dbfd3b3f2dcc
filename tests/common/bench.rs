//! What the benchmarks (`benches/`, `./run bench`) share: start-up, statistics, and writing a section
//! of the results file.

use super::poll;
use gst::glib;
use gst::prelude::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `gst::init()` and this plugin registered, or exit with the reason.
pub fn init_or_exit() {
    if let Err(e) = gst::init() {
        eprintln!("GStreamer: {e}");
        std::process::exit(1);
    }
    if let Err(e) = gsttdstream::plugin_register_static() {
        eprintln!("tdstream: {e}");
        std::process::exit(1);
    }
    if let Err(e) = gsttdstreamrtsp::plugin_register_static() {
        eprintln!("tdstreamrtsp: {e}");
        std::process::exit(1);
    }
}

/// (median, min, max); NaN for no values. The median of an even number of values is the mean of the
/// middle two.
pub fn median(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mid = if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    };
    (mid, v[0], v[n - 1])
}

/// "median (min–max)" with `digits` decimals.
pub fn cell((med, min, max): (f64, f64, f64), digits: usize) -> String {
    format!("{med:.digits$} ({min:.digits$}–{max:.digits$})")
}

/// The cell for one figure over several runs: "median (min–max)" of its finite values, "–" if none.
pub fn runs_cell(values: impl Iterator<Item = f64>, digits: usize) -> String {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        "–".to_string()
    } else {
        cell(median(&mut v), digits)
    }
}

/// For a benchmark that needs a network namespace of its own (loopback only): runs this binary again
/// inside one (`unshare`, as root) with its arguments and exits with its status; returns at once when
/// already inside (TDSTREAM_IN_NETNS set).
pub fn rerun_in_loopback_netns() {
    if std::env::var_os("TDSTREAM_IN_NETNS").is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("bench binary");
    let status = Command::new("unshare")
        .args(["--net", "--pid", "--fork", "--kill-child"])
        .args(["sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args(std::env::args().skip(1))
        .env("TDSTREAM_IN_NETNS", "1")
        .status()
        .expect("unshare (util-linux; needs root)");
    std::process::exit(status.code().unwrap_or(1));
}

/// Prints a Markdown section and writes it to target/bench/`file`, which `./run bench` gathers.
pub fn write_section(file: &str, md: &str) {
    println!("{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    if let Err(e) = std::fs::write(out.join(file), md) {
        eprintln!("cannot write target/bench/{file}: {e}");
    }
}

pub fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The pad that receives data after `pad` (a source pad), through ghost and proxy pads.
fn downstream(pad: &gst::Pad) -> Option<gst::Pad> {
    let mut next = pad.peer()?;
    loop {
        if let Some(ghost) = next.downcast_ref::<gst::GhostPad>() {
            // A sink ghost pad: into the bin.
            next = ghost.target()?;
        } else if let Some(proxy) = next.downcast_ref::<gst::ProxyPad>() {
            // The inside of a source ghost pad: out of the bin.
            let ghost = proxy.internal()?;
            next = ghost.peer()?;
        } else {
            return Some(next);
        }
    }
}

/// One element as a launch-line fragment: factory and every property it holds at a non-default value.
fn describe(element: &gst::Element) -> Option<String> {
    let factory = element.factory()?.name().to_string();
    let mut out = factory.clone();
    for p in element.list_properties() {
        let flags = p.flags();
        if !flags.contains(glib::ParamFlags::READWRITE)
            || flags.contains(glib::ParamFlags::CONSTRUCT_ONLY)
            || ["name", "parent"].contains(&p.name())
        {
            continue;
        }
        let value = element.property_value(p.name());
        // A GstStructure (or caps) property holding NULL: serializing it is a GStreamer-CRITICAL
        // (docs/FINDINGS.md), and NULL is no setting to write down.
        let null = |v: &glib::Value| {
            (v.type_().is_a(gst::Structure::static_type())
                && v.get::<Option<gst::Structure>>().ok().flatten().is_none())
                || (v.type_().is_a(gst::Caps::static_type())
                    && v.get::<Option<gst::Caps>>().ok().flatten().is_none())
        };
        if null(&value) {
            continue;
        }
        let default = if null(p.default_value()) {
            Ok(glib::GString::from(""))
        } else {
            p.default_value().serialize()
        };
        let (Ok(v), Ok(d)) = (value.serialize(), default) else {
            continue;
        };
        if v == d || v.is_empty() {
            continue;
        }
        // As one would type it: strings and caps unescaped, quoted where they hold spaces.
        let text = value
            .get::<String>()
            .ok()
            .or_else(|| value.get::<gst::Caps>().ok().map(|c| c.to_string()))
            .unwrap_or_else(|| v.to_string());
        if text.contains([' ', ',', '?', '&']) {
            out.push_str(&format!(" {}=\"{}\"", p.name(), text.replace('"', "\\\"")));
        } else {
            out.push_str(&format!(" {}={text}", p.name()));
        }
    }
    Some(out)
}

/// The equivalent hand-written launch line of `{source} ! nvencstreamsink {props}`, read off the running
/// element: every element on its video path in data-flow order, with every property it set to a
/// non-default value, minus this plugin's own elements (`td*`). `peer_up` starts the far end.
pub fn hand_written(source: &str, props: &str, peer_up: impl Fn()) -> String {
    hand_written_elements(source, props, peer_up).0
}

/// [`hand_written`], and the elements it was read from (stopped, their properties as they ran).
pub fn hand_written_elements(
    source: &str,
    props: &str,
    peer_up: impl Fn(),
) -> (String, Vec<gst::Element>) {
    let launch = format!("{source} ! nvencstreamsink name=s {props}");
    let pipeline = gst::parse::launch(&launch)
        .expect("launch")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    peer_up();
    pipeline.set_state(gst::State::Playing).expect("play");
    let sink = pipeline.by_name("s").expect("s");
    // Streaming (the network part is built once connected): poll for the network sink on the path.
    let chain = poll(Duration::from_secs(15), || {
        let mut chain = Vec::new();
        let mut pad = sink
            .static_pad("video")
            .and_then(|p| p.downcast::<gst::GhostPad>().ok()?.target());
        while let Some(p) = pad {
            let element = p.parent_element()?;
            let last = element.src_pads().is_empty();
            chain.push(element.clone());
            if last {
                return Some(chain);
            }
            pad = element.src_pads().first().and_then(downstream);
        }
        None
    })
    .expect("nvencstreamsink's video path");
    let _ = pipeline.set_state(gst::State::Null);
    let chain: Vec<gst::Element> = chain
        .into_iter()
        .filter(|e| e.factory().is_some_and(|f| !f.name().starts_with("td")))
        .collect();
    let parts: Vec<String> = chain.iter().filter_map(describe).collect();
    (format!("{source} ! {}", parts.join(" ! ")), chain)
}

/// What one `gst-launch-1.0` process cost, from the kernel's rusage (GNU time).
/// What one `gst-launch-1.0` process cost: CPU and peak RSS from the kernel's rusage (GNU time), and the
/// peaks of RSS's two parts (sampled from /proc/PID/status every 200 ms): anonymous memory (heap,
/// stacks, buffers: what the process allocates) and file-backed pages (code and read-only data of the
/// program and the libraries and plugins it loaded, shared with every process that maps them).
pub struct Run {
    pub cpu_s: f64,
    pub rss_mb: f64,
    pub anon_mb: f64,
    pub file_mb: f64,
}

/// RssAnon and RssFile of `pid` in MB.
fn rss_parts(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok()
    };
    Some((kb("RssAnon:")? / 1024.0, kb("RssFile:")? / 1024.0))
}

/// One `gst-launch-1.0` process of `launch` (which starts with a live `videotestsrc` at 30 fps) for
/// `seconds` of video, under GNU time, this plugin on the plugin path.
pub fn timed_launch(launch: &str, seconds: u32) -> Run {
    let launch = launch.replacen(
        "videotestsrc is-live=true",
        &format!("videotestsrc is-live=true num-buffers={}", seconds * 30),
        1,
    );
    let mut child = Command::new("/usr/bin/time")
        .args(["-f", "TIME %U %S %M", "sh", "-c"])
        .arg(format!("exec gst-launch-1.0 -q -e {launch}"))
        .env(
            "GST_PLUGIN_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/release"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/time (Debian package time; ./run setup)");
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut e) = stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
        }
        text
    });
    // gst-launch-1.0 is GNU time's child (sh execs it).
    let time_pid = child.id();
    let (mut anon, mut file) = (0f64, 0f64);
    let mut launched = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(u64::from(seconds) + 60);
    while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
        launched = std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok())
            .or(launched);
        if let Some((a, f)) = launched.and_then(rss_parts) {
            anon = anon.max(a);
            file = file.max(f);
        }
        std::thread::park_timeout(Duration::from_millis(200));
    }
    if matches!(child.try_wait(), Ok(None)) {
        // Past the deadline: stop gst-launch-1.0 itself (by pid; it holds the stderr pipe the reader
        // waits on), then GNU time.
        if let Some(pid) = launched {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = child.kill();
    }
    let status = child.wait();
    let err = reader.join().unwrap_or_default();
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with("TIME "))
        .unwrap_or("");
    let v: Vec<f64> = line
        .split(' ')
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(
        v.len() == 3 && status.is_ok_and(|s| s.success()),
        "{launch}: {err}"
    );
    Run {
        cpu_s: v[0] + v[1],
        rss_mb: v[2] / 1024.0,
        anon_mb: anon,
        file_mb: file,
    }
}
