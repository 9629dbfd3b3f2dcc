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
//! `./run bench` runs it (OVERHEAD_SECONDS, default 15; OVERHEAD_ROUNDS, default 3) and writes
//! target/bench/overhead.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{bench, free_port, nginx::nginx, srt_listener};

const SOURCE: &str =
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=1280,height=720,framerate=30/1";
const SETTINGS: &str =
    "include-silent-audio=off quality=lowlatencymedium avg-bitrate=4 keyframe-interval=60";

fn main() {
    bench::init_or_exit();
    let seconds = bench::env_u32("OVERHEAD_SECONDS", 15);
    let rounds = bench::env_u32("OVERHEAD_ROUNDS", 3);
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
    let mut split = String::from(
        "\nRSS split into its two parts (peaks of RssAnon and RssFile in /proc/PID/status, sampled every \
         200 ms): anonymous memory is what the process allocates (heap, stacks, video buffers); \
         file-backed pages are the code and read-only data of the program and of the libraries and \
         plugins it loaded, shared with every other process that maps the same files.\n\n\
         | transport | anonymous MB, nvencstreamsink | anonymous MB, hand-written | ratio | file-backed MB, nvencstreamsink | file-backed MB, hand-written | difference MB |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for transport in ["SRT", "RTMP"] {
        let (ours, reference) = if transport == "SRT" {
            let port = free_port();
            let props = format!("mode=srt url=srt://127.0.0.1:{port}?mode=caller");
            let peer = std::cell::RefCell::new(None);
            let reference = bench::hand_written(SOURCE, &format!("{props} {SETTINGS}"), || {
                *peer.borrow_mut() = Some(srt_listener(port, None, None))
            });
            (
                format!("{SOURCE} ! nvencstreamsink {props} {SETTINGS}"),
                reference,
            )
        } else {
            let props = format!("mode=rtmp url=rtmp://127.0.0.1:{}/live/overhead", ng.port);
            let reference = bench::hand_written(SOURCE, &format!("{props} {SETTINGS}"), || {});
            (
                format!("{SOURCE} ! nvencstreamsink {props} {SETTINGS}"),
                reference,
            )
        };
        lines.push_str(&format!("- {transport}, hand-written: `{reference}`\n"));
        let mut runs: [Vec<bench::Run>; 2] = [Vec::new(), Vec::new()];
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
                let r = bench::timed_launch(launch, seconds);
                drop(port_peer);
                eprintln!(
                    "{transport} {}: {:.2} s CPU, {:.1} MB ({:.1} anonymous, {:.1} file-backed)",
                    ["ours", "hand-written"][i],
                    r.cpu_s,
                    r.rss_mb,
                    r.anon_mb,
                    r.file_mb
                );
                runs[i].push(r);
            }
        }
        let med = |i: usize, f: fn(&bench::Run) -> f64| {
            bench::median(&mut runs[i].iter().map(f).collect::<Vec<_>>())
        };
        let cell = |v| bench::cell(v, 2);
        let (oc, hc) = (med(0, |r| r.cpu_s), med(1, |r| r.cpu_s));
        let (or, hr) = (med(0, |r| r.rss_mb), med(1, |r| r.rss_mb));
        md.push_str(&format!(
            "| {transport} | {} | {} | {:.3} | {} | {} | {:.3} |\n",
            cell(oc),
            cell(hc),
            oc.0 / hc.0,
            cell(or),
            cell(hr),
            or.0 / hr.0
        ));
        let (oa, ha) = (med(0, |r| r.anon_mb), med(1, |r| r.anon_mb));
        let (of, hf) = (med(0, |r| r.file_mb), med(1, |r| r.file_mb));
        split.push_str(&format!(
            "| {transport} | {} | {} | {:.3} | {} | {} | {:+.2} |\n",
            cell(oa),
            cell(ha),
            oa.0 / ha.0,
            cell(of),
            cell(hf),
            of.0 - hf.0
        ));
    }
    drop(ng);
    md.push_str(&split);
    md.push_str("\nThe hand-written lines, as read off the element:\n\n");
    md.push_str(&lines);
    md.push('\n');
    bench::write_section("overhead.md", &md);
}
