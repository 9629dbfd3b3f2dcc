//! Benchmark (not a test): a 4 Mbit/s stream squeezed through a 2 Mbit/s link (issue #18). Pictures
//! delivered and glass-to-glass latency at the receiver, for nvencstreamsink with and without
//! `adaptive-bitrate` and for FFmpeg sending the same x264 settings, against the same stream on the
//! unshaped link, all in one run.
//!
//! It runs itself again inside a private network namespace (and PID namespace) whose loopback is
//! shaped with `tc` (htb with a 100-packet pfifo, MTU 1500); SRT caller → `srtsrc` listener (latency
//! 200 ms) → `avdec_h264 output-corrupt=false` (a picture with lost slices is not delivered). Latency is
//! read from the wall-clock stamp in each picture (`tests/common/stamp.rs`). `./run bench` runs it
//! (SQUEEZE_SECONDS per run, default 20; SQUEEZE_TRACE=1 prints every 15th picture's latency) and
//! writes target/bench/squeeze.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::glass::{ffmpeg, ffmpeg_x264, measure, ours, percentile, Samples, SKIP};
use common::netns::Shaped;
use common::{bench, free_port, srt_listener};

/// Colour bars with a running clock: x264 spends the whole bitrate on them (a mostly black picture
/// would stay below the link without any adaptation).
const SOURCE: &str = "videotestsrc is-live=true pattern=smpte ! \
                      video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! timeoverlay ! \
                      identity name=stamp";
const SETTINGS: &str =
    "quality=lowlatencyhigh keyframe-interval=30 avg-bitrate=4 include-silent-audio=off";
const LINK: &str = "2mbit";
const QUEUE_PACKETS: u32 = 100;

/// The bitrate nvencstreamsink handed to its SRT sink, after the first 2 s (FFmpeg's is not measured).
fn sent(s: &Samples) -> String {
    let mut v: Vec<f64> = s.bitrate.iter().skip(20).map(|b| b / 1e6).collect();
    if v.is_empty() {
        return "–".into();
    }
    bench::cell(bench::median(&mut v), 2)
}

/// A latency in ms, or a dash where too few pictures were decoded to have one.
fn ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "–".into()
    }
}

/// The latencies of the pictures decoded after the first 5 s (the samples start after SKIP pictures).
fn after_5s(s: &Samples) -> Vec<f64> {
    s.pixel.iter().skip(150 - SKIP).copied().collect()
}

struct Row {
    link: &'static str,
    sender: &'static str,
    samples: Samples,
}

fn main() {
    // Again, inside a network namespace of its own: the shaping cannot touch this machine's loopback.
    bench::rerun_in_loopback_netns();
    bench::init_or_exit();
    // Started again by itself as the sender process (common::glass::ours, as users run senders).
    common::user_sender::serve_if_asked();
    let seconds = bench::env_u32("SQUEEZE_SECONDS", 20);
    let frames = seconds * 30;

    // FFmpeg's settings, read off nvencstreamsink's x264enc with the same SETTINGS.
    let port = free_port();
    let peer = std::cell::RefCell::new(None);
    let (_, elements) = bench::hand_written_elements(
        SOURCE,
        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=caller {SETTINGS}"),
        || *peer.borrow_mut() = Some(srt_listener(port, None, None)),
    );
    drop(peer);
    let (x264, _) = ffmpeg_x264(&elements);
    drop(elements);

    let run = |sender: &str, adaptive: bool| {
        let port = free_port();
        let receiver = format!(
            "srtsrc uri=srt://127.0.0.1:{port}?mode=listener&latency=200 ! tsdemux ! \
             tdmetaextract ! avdec_h264 output-corrupt=false ! fakesink name=out sync=false async=false"
        );
        let tx = if sender == "FFmpeg" {
            let url = format!("srt://127.0.0.1:{port}?mode=caller&latency=200000&pkt_size=1316");
            ffmpeg(SOURCE, frames, &x264, &["-f", "mpegts", &url])
        } else {
            ours(
                SOURCE,
                frames,
                &format!(
                    "mode=srt url=srt://127.0.0.1:{port}?mode=caller&latency=200 {SETTINGS} \
                     adaptive-bitrate={adaptive}"
                ),
            )
        };
        let samples = measure(&receiver, tx, true);
        if std::env::var_os("SQUEEZE_TRACE").is_some() {
            let every: Vec<String> = samples
                .pixel
                .iter()
                .step_by(15)
                .map(|ms| format!("{ms:.0}"))
                .collect();
            eprintln!("latency every 15 pictures: {}", every.join(" "));
        }
        eprintln!(
            "{sender} (adaptive {adaptive}): {} of {frames} decoded, p50 {:.0} ms, p95 {:.0} ms",
            samples.decoded,
            percentile(&samples.pixel, 0.5),
            percentile(&samples.pixel, 0.95)
        );
        samples
    };
    let mut rows = vec![Row {
        link: "unshaped",
        sender: "nvencstreamsink adaptive-bitrate=true",
        samples: run("nvencstreamsink", true),
    }];
    let _link = Shaped::new(LINK, QUEUE_PACKETS);
    for (sender, adaptive) in [
        ("nvencstreamsink adaptive-bitrate=true", true),
        ("nvencstreamsink adaptive-bitrate=false", false),
        ("FFmpeg", false),
    ] {
        rows.push(Row {
            link: "2 Mbit/s",
            sender,
            samples: run(sender.split(' ').next().unwrap_or(sender), adaptive),
        });
    }

    let reference_p95 = percentile(&rows[0].samples.pixel, 0.95);
    let mut md = format!(
        "## A 4 Mbit/s stream through a 2 Mbit/s link (issue #18)\n\n\
         1280×720 at 30 fps, software H.264 (`{SETTINGS}`), video only, {seconds} s per run ({frames} \
         pictures sent), SRT caller → `srtsrc` listener (latency 200 ms) → `avdec_h264 output-corrupt=false`: \
         a picture with lost slices is not delivered. The link: the loopback of a private network \
         namespace shaped with `tc` (htb {LINK}, pfifo of {QUEUE_PACKETS} packets, MTU 1500). nvencstreamsink \
         runs in a process of its own that handles LATENCY messages as gst-launch-1.0 does (issue #29). FFmpeg gets \
         the same pictures and the x264 settings of nvencstreamsink's x264enc (`{x264}`). Latency: the \
         wall-clock stamp in each picture, read after the decoder, first 30 decoded pictures skipped \
         (connection). Target: with adaptation ≥ 95 % delivered and p95 within 2× the unshaped p95 \
         ({reference_p95:.0} ms in this run). Command: `./run bench`.\n\n\
         | link | sender | pictures delivered | p50 ms | p95 ms | p95 / unshaped p95 | p95 ms after the first 5 s | Mbit/s handed to SRT (median, min–max) |\n\
         |---|---|---|---|---|---|---|---|\n",
        x264 = x264.join(" "),
    );
    for r in &rows {
        let p95 = percentile(&r.samples.pixel, 0.95);
        md.push_str(&format!(
            "| {} | {} | {} of {frames} ({:.0} %) | {:.0} | {:.0} | {:.1}× | {} | {} |\n",
            r.link,
            r.sender,
            r.samples.decoded,
            r.samples.decoded as f64 * 100.0 / frames as f64,
            percentile(&r.samples.pixel, 0.5),
            p95,
            p95 / reference_p95,
            ms(percentile(&after_5s(&r.samples), 0.95)),
            sent(&r.samples)
        ));
    }
    md.push('\n');
    bench::write_section("squeeze.md", &md);
}
