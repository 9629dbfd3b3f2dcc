//! Benchmark (not a test): what several destinations cost (issue #17). CPU of one `nvencstreamsink`
//! with three destinations (RTMP to nginx-rtmp, SRT caller to srt-live-transmit, an RTSP mount), against
//! the same element with one destination, three single-destination `nvencstreamsink`s in one process
//! (what TouchDesigner needs: one Video Stream Out TOP, one encode, per destination), and FFmpeg's `tee`
//! muxer sending one libx264 encode to the two of them it can reach (RTMP and SRT; FFmpeg serves no
//! RTSP mount), fed the same raw pictures through a pipe.
//!
//! Each configuration is one process tree under GNU time (user + system CPU of everything it ran),
//! alternating, several rounds; medians (min–max), ratios against the one-destination run of the same
//! round set. `./run bench` runs it (DESTINATIONS_SECONDS, default 15; DESTINATIONS_ROUNDS, default 3)
//! and writes target/bench/destinations.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{bench, free_port, nginx::nginx, srt_listener};
use std::process::{Command, Stdio};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const SETTINGS: &str =
    "include-silent-audio=off quality=lowlatencymedium avg-bitrate=4 keyframe-interval=60";

fn source(frames: u32) -> String {
    format!(
        "videotestsrc is-live=true pattern=ball num-buffers={frames} ! \
         video/x-raw,width={WIDTH},height={HEIGHT},framerate=30/1"
    )
}

/// A configuration's shell script for (SRT listener port, RTSP port).
type Script = Box<dyn Fn(u16, u16) -> String>;

/// CPU seconds (user + system) of `sh -c script` and all it waited for, from GNU time.
fn timed_shell(script: &str, seconds: u32) -> f64 {
    let out = Command::new("timeout")
        .arg(format!("{}", seconds + 60))
        .args(["/usr/bin/time", "-f", "TIME %U %S", "sh", "-c", script])
        .env(
            "GST_PLUGIN_PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/release"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/time (Debian package time; ./run setup)");
    let err = String::from_utf8_lossy(&out.stderr);
    let v: Vec<f64> = err
        .lines()
        .rev()
        .find(|l| l.starts_with("TIME "))
        .unwrap_or("")
        .split(' ')
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(v.len() == 2 && out.status.success(), "{script}: {err}");
    v[0] + v[1]
}

fn main() {
    bench::init_or_exit();
    let seconds = bench::env_u32("DESTINATIONS_SECONDS", 15);
    let rounds = bench::env_u32("DESTINATIONS_ROUNDS", 3);
    let frames = seconds * 30;
    let ng = nginx(None);
    let rtmp = |name: &str| format!("rtmp://127.0.0.1:{}/live/{name}", ng.port);
    // x264 as nvencstreamsink sets it for SETTINGS (read off its running x264enc): 4 Mbit/s CBR with a
    // 600 ms VBV and NAL HRD filler, keyframes every 60 frames, no B-frames, superfast, zerolatency.
    let x264 =
        "-b:v 4000k -maxrate 4000k -bufsize 2400k -g 60 -bf 0 -preset superfast -tune zerolatency \
                -x264-params nal-hrd=cbr:filler=1";
    let configs: Vec<(&str, Script)> = vec![
        (
            "nvencstreamsink, 1 destination (SRT)",
            Box::new(move |srt, _| {
                format!(
                    "exec gst-launch-1.0 -q -e {} ! nvencstreamsink {SETTINGS} \
                     mode=srt url=srt://127.0.0.1:{srt}?mode=caller",
                    source(frames)
                )
            }),
        ),
        (
            "nvencstreamsink, 3 destinations (RTMP, SRT, RTSP)",
            Box::new({
                let url = rtmp("three");
                move |srt, rtsp| {
                    format!(
                        "exec gst-launch-1.0 -q -e {} ! nvencstreamsink {SETTINGS} destinations=\"{url} \
                         srt://127.0.0.1:{srt}?mode=caller rtsp://127.0.0.1:{rtsp}/three\"",
                        source(frames)
                    )
                }
            }),
        ),
        (
            "3 × nvencstreamsink, 1 destination each",
            Box::new({
                let url = rtmp("separate");
                move |srt, rtsp| {
                    format!(
                        "exec gst-launch-1.0 -q -e {} ! tee name=t \
                         t. ! queue ! nvencstreamsink {SETTINGS} mode=rtmp url={url} \
                         t. ! queue ! nvencstreamsink {SETTINGS} mode=srt url=srt://127.0.0.1:{srt}?mode=caller \
                         t. ! queue ! nvencstreamsink {SETTINGS} mode=rtsp-server port={rtsp} stream-name=separate",
                        source(frames)
                    )
                }
            }),
        ),
        (
            "FFmpeg tee, 1 libx264 encode to 2 (RTMP, SRT)",
            Box::new({
                let url = rtmp("ffmpeg");
                move |srt, _| {
                    format!(
                        "gst-launch-1.0 -q {} ! fdsink fd=1 | ffmpeg -hide_banner -loglevel error -f rawvideo \
                         -pix_fmt yuv420p -video_size {WIDTH}x{HEIGHT} -framerate 30 -i pipe:0 -an -c:v libx264 \
                         {x264} -map 0:v -flags +global_header -f tee \
                         \"[f=flv:onfail=ignore]{url}|[f=mpegts:onfail=ignore]srt://127.0.0.1:{srt}?mode=caller&pkt_size=1316\"",
                        source(frames)
                    )
                }
            }),
        ),
    ];
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for _ in 0..rounds {
        for (i, (name, script)) in configs.iter().enumerate() {
            let srt = free_port();
            let rtsp = free_port();
            let peer = srt_listener(srt, None, None);
            let cpu = timed_shell(&script(srt, rtsp), seconds);
            drop(peer);
            eprintln!("{name}: {cpu:.2} s CPU");
            runs[i].push(cpu);
        }
    }
    drop(ng);
    let med: Vec<(f64, f64, f64)> = runs.iter_mut().map(|r| bench::median(r)).collect();
    let mut md = format!(
        "## Several destinations from one encode (issue #17)\n\n\
         {WIDTH}×{HEIGHT} at 30 fps, {seconds} s per run, software H.264 (`{SETTINGS}`), video only; RTMP to \
         nginx-rtmp, SRT caller to srt-live-transmit, an RTSP mount, all on 127.0.0.1. CPU = user + system \
         seconds of the whole process tree from GNU time. FFmpeg (Debian's 5.1) gets the same pictures from \
         `videotestsrc` through a pipe (the gst-launch-1.0 process that makes them is counted on its side \
         too) and the x264 settings nvencstreamsink uses (`{x264}`); it cannot serve an RTSP mount, so it \
         sends to two. Median of {rounds} alternating rounds (min–max). Target: 3 destinations ≤ 1.10× \
         1 destination, about a third of three separate encodes. Command: `./run bench`.\n\n\
         | configuration | CPU s | ratio to 1 destination |\n|---|---|---|\n"
    );
    for ((name, _), m) in configs.iter().zip(&med) {
        md.push_str(&format!(
            "| {name} | {} | {:.3} |\n",
            bench::cell(*m, 2),
            m.0 / med[0].0
        ));
    }
    md.push_str(&format!(
        "\n3 destinations cost {:.2}× one destination and {:.2}× three separate encodes.\n\n",
        med[1].0 / med[0].0,
        med[1].0 / med[2].0
    ));
    bench::write_section("destinations.md", &md);
}
