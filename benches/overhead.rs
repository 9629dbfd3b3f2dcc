//! Benchmark (not a test): what `nvencstreamsink` costs over the equivalent hand-written pipeline
//! (issue #9, figure 1), for SRT and RTMP at 720p30.
//!
//! The hand-written line is not typed by hand: it is read off a running `nvencstreamsink` — every
//! element on the video path in data-flow order, with every property it set to a non-default value — so
//! both sides run the same encoder with the same settings, the same parser, muxer and network sink.
//! Only this plugin's own elements (`tdmetaembed`) are left out of the reference: what they cost counts
//! as overhead. Each side runs as its own `gst-launch-1.0` process under GNU time (CPU user+system and
//! peak RSS from the kernel's rusage), alternating, several rounds; the table gives medians (min–max) and
//! the ratio ours / hand-written.
//!
//! `./run bench` runs it (OVERHEAD_SECONDS, default 30; OVERHEAD_ROUNDS, default 3) and writes
//! target/bench/overhead.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{bench, free_port, nginx::nginx, poll, srt_listener};
use gst::prelude::*;
use std::process::{Command, Stdio};
use std::time::Duration;

const SOURCE: &str =
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=1280,height=720,framerate=30/1";
const SETTINGS: &str =
    "include-silent-audio=off quality=lowlatencymedium avg-bitrate=4 keyframe-interval=60";

fn env_u32(name: &str, default: u32) -> u32 {
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
        let (Ok(v), Ok(d)) = (value.serialize(), p.default_value().serialize()) else {
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

/// The elements on nvencstreamsink's video path, while it streams to `props`' destination.
fn hand_written(props: &str, peer_up: impl Fn()) -> String {
    let launch = format!("{SOURCE} ! nvencstreamsink name=s {props} {SETTINGS}");
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
    let parts: Vec<String> = chain
        .iter()
        .filter(|e| e.factory().is_some_and(|f| !f.name().starts_with("td")))
        .filter_map(describe)
        .collect();
    format!("{SOURCE} ! {}", parts.join(" ! "))
}

struct Run {
    cpu_s: f64,
    rss_mb: f64,
}

/// One `gst-launch-1.0` process for `seconds` of video, under GNU time.
fn run(launch: &str, seconds: u32) -> Run {
    let launch = launch.replacen(
        "videotestsrc is-live=true",
        &format!("videotestsrc is-live=true num-buffers={}", seconds * 30),
        1,
    );
    let out = Command::new("/usr/bin/time")
        .args(["-f", "TIME %U %S %M", "sh", "-c"])
        .arg(format!("exec gst-launch-1.0 -q -e {launch}"))
        .env(
            "GST_PLUGIN_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/release"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/time (Debian package time; ./run setup)");
    let err = String::from_utf8_lossy(&out.stderr);
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
    assert!(v.len() == 3 && out.status.success(), "{launch}: {err}");
    Run {
        cpu_s: v[0] + v[1],
        rss_mb: v[2] / 1024.0,
    }
}

fn main() {
    bench::init_or_exit();
    let seconds = env_u32("OVERHEAD_SECONDS", 30);
    let rounds = env_u32("OVERHEAD_ROUNDS", 3);
    let ng = nginx(None);
    let mut md = format!(
        "## Bin overhead: nvencstreamsink vs the hand-written pipeline (issue #9)\n\n\
         1280×720 at 30 fps, {seconds} s per run, software H.264 (`{SETTINGS}`), video only. Each run is \
         one `gst-launch-1.0` process; CPU = user + system seconds and peak RSS from GNU time (the \
         kernel's rusage). The hand-written line is read off the running element (same elements and \
         property values, minus tdmetaembed). Median of {rounds} alternating rounds (min–max). \
         Target: ratio ≤ 1.03. Command: `./run bench`.\n\n\
         | transport | CPU s, nvencstreamsink | CPU s, hand-written | CPU ratio | RSS MB, nvencstreamsink | RSS MB, hand-written | RSS ratio |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let mut lines = String::new();
    for transport in ["SRT", "RTMP"] {
        let (ours, reference) = if transport == "SRT" {
            let port = free_port();
            let props = format!("mode=srt url=srt://127.0.0.1:{port}?mode=caller");
            let peer = std::cell::RefCell::new(None);
            let reference = hand_written(&props, || {
                *peer.borrow_mut() = Some(srt_listener(port, None, None))
            });
            (
                format!("{SOURCE} ! nvencstreamsink {props} {SETTINGS}"),
                reference,
            )
        } else {
            let props = format!("mode=rtmp url=rtmp://127.0.0.1:{}/live/overhead", ng.port);
            let reference = hand_written(&props, || {});
            (
                format!("{SOURCE} ! nvencstreamsink {props} {SETTINGS}"),
                reference,
            )
        };
        lines.push_str(&format!("- {transport}, hand-written: `{reference}`\n"));
        let (mut cpu, mut rss) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for _ in 0..rounds {
            for (i, launch) in [&ours, &reference].into_iter().enumerate() {
                let port_peer = (transport == "SRT").then(|| {
                    let port = launch
                        .split("srt://127.0.0.1:")
                        .nth(1)
                        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|p| p.parse::<u16>().ok())
                        .expect("srt port");
                    srt_listener(port, None, None)
                });
                let r = run(launch, seconds);
                drop(port_peer);
                let (c, m) = if i == 0 {
                    (&mut cpu.0, &mut rss.0)
                } else {
                    (&mut cpu.1, &mut rss.1)
                };
                c.push(r.cpu_s);
                m.push(r.rss_mb);
                eprintln!(
                    "{transport} {}: {:.2} s CPU, {:.1} MB",
                    ["ours", "hand-written"][i],
                    r.cpu_s,
                    r.rss_mb
                );
            }
        }
        let (oc, hc) = (bench::median(&mut cpu.0), bench::median(&mut cpu.1));
        let (or, hr) = (bench::median(&mut rss.0), bench::median(&mut rss.1));
        let cell = |v| bench::cell(v, 2);
        md.push_str(&format!(
            "| {transport} | {} | {} | {:.3} | {} | {} | {:.3} |\n",
            cell(oc),
            cell(hc),
            oc.0 / hc.0,
            cell(or),
            cell(hr),
            or.0 / hr.0
        ));
    }
    drop(ng);
    md.push_str("\nThe hand-written lines, as read off the element:\n\n");
    md.push_str(&lines);
    md.push('\n');
    bench::write_section("overhead.md", &md);
}
