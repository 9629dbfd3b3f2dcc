//! Benchmark (not a test): glass-to-glass latency on loopback per transport, nvencstreamsink against
//! FFmpeg sending the same encoded settings over the same protocol (issue #9, figure 3).
//!
//! Every sender takes the same live 720p30 test picture; the wall-clock time is written into each
//! picture as it leaves the source (`tests/common/stamp.rs`: a row of black and white blocks, which
//! survives the encoder) and read back from the picture leaving the decoder on the receiving side. The
//! receivers are the same GStreamer pipelines for both senders. nvencstreamsink's rows also give the
//! latency from tdmetainject's capture time (the per-frame metadata), which must agree with the
//! picture's. FFmpeg (Debian's `ffmpeg`, libx264) gets the pictures over a pipe and the x264 settings
//! read off nvencstreamsink's running `x264enc` (bitrate and VBV, preset, tune, keyframe interval,
//! x264 options, profile), plus its own low-latency output flag (`-flush_packets 1`).
//!
//! `./run bench` runs it (LATENCY_SECONDS per run, default 8; LATENCY_ROUNDS, default 3) and writes
//! target/bench/latency.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::glass::{
    ffmpeg, ffmpeg_receiver, ffmpeg_version, ffmpeg_x264, measure, ours, percentile, Samples, SKIP,
};
use common::{bench, free_port, nginx::nginx, srt_listener, wait_udp_bound};
use std::time::Duration;

const SOURCE: &str = "videotestsrc is-live=true pattern=ball ! \
                      video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! identity name=stamp";
const SETTINGS: &str =
    "quality=lowlatencyhigh keyframe-interval=30 avg-bitrate=4 include-silent-audio=off";
struct Row {
    name: &'static str,
    sender: &'static str,
    /// The receiving side: GStreamer (the demuxer and `avdec_h264`) or FFmpeg (its demuxer and decoder).
    receiver: &'static str,
    runs: Vec<Samples>,
}

const GSTREAMER: &str = "GStreamer";
/// RTMP's GStreamer receiver with the decoder's own choice of threading: rtmp2src is not a live source,
/// so avdec_h264 decodes frame-threaded and holds a picture per extra thread (README, FINDINGS).
const GSTREAMER_FRAME_THREADS: &str = "GStreamer, avdec_h264 thread-type=auto";
const FFMPEG: &str = "FFmpeg";

fn main() {
    bench::init_or_exit();
    // Started again by itself as the sender process (common::glass::ours, as users run senders).
    common::user_sender::serve_if_asked();
    let seconds = bench::env_u32("LATENCY_SECONDS", 8);
    let rounds = bench::env_u32("LATENCY_ROUNDS", 3);
    let frames = seconds * 30;
    let decode = "tdmetaextract ! avdec_h264 ! fakesink name=out sync=false async=false";

    // FFmpeg's settings, read off nvencstreamsink's x264enc with the same SETTINGS.
    let port = free_port();
    let peer = std::cell::RefCell::new(None);
    let (_, elements) = bench::hand_written_elements(
        SOURCE,
        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=caller {SETTINGS}"),
        || *peer.borrow_mut() = Some(srt_listener(port, None, None)),
    );
    drop(peer);
    let (x264, unmapped) = ffmpeg_x264(&elements);
    drop(elements);

    let ng = nginx(None);
    let srt = "SRT (latency=120 ms)";
    let rtmp = "RTMP via nginx-rtmp";
    let mut rows: Vec<Row> = [
        (srt, "nvencstreamsink", GSTREAMER),
        (srt, "FFmpeg", GSTREAMER),
        (srt, "nvencstreamsink", FFMPEG),
        (srt, "FFmpeg", FFMPEG),
        (rtmp, "nvencstreamsink", GSTREAMER),
        (rtmp, "FFmpeg", GSTREAMER),
        (rtmp, "nvencstreamsink", GSTREAMER_FRAME_THREADS),
        ("RTSP over UDP", "nvencstreamsink", GSTREAMER),
        ("RTSP over TCP", "nvencstreamsink", GSTREAMER),
    ]
    .into_iter()
    // LATENCY_ROWS=SRT (say) runs only the rows whose transport, sender or receiver contains it.
    .filter(|(name, sender, receiver)| {
        std::env::var("LATENCY_ROWS")
            .map_or(true, |f| format!("{name} {sender} {receiver}").contains(&f))
    })
    .map(|(name, sender, receiver)| Row {
        name,
        sender,
        receiver,
        runs: vec![],
    })
    .collect();
    for round in 0..rounds {
        for (n, row) in rows.iter_mut().enumerate() {
            let ffmpeg_sends = row.sender == "FFmpeg";
            let samples = if row.name.starts_with("SRT") {
                let port = free_port();
                let (ffmpeg_rx, receiver) = if row.receiver == FFMPEG {
                    let (peer, pipeline) = ffmpeg_receiver(&format!(
                        "srt://127.0.0.1:{port}?mode=listener&latency=120000&pkt_size=1316"
                    ));
                    assert!(
                        wait_udp_bound(port, Duration::from_secs(5)),
                        "ffmpeg did not listen"
                    );
                    (Some(peer), pipeline)
                } else {
                    let pipeline = format!(
                        "srtsrc uri=srt://127.0.0.1:{port}?mode=listener&latency=120 ! tsdemux ! {decode}"
                    );
                    (None, pipeline)
                };
                let sender = if ffmpeg_sends {
                    let url =
                        format!("srt://127.0.0.1:{port}?mode=caller&latency=120000&pkt_size=1316");
                    ffmpeg(SOURCE, frames, &x264, &["-f", "mpegts", &url])
                } else {
                    ours(
                        SOURCE,
                        frames,
                        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=caller&latency=120 {SETTINGS}"),
                    )
                };
                let samples = measure(&receiver, sender, true);
                drop(ffmpeg_rx);
                samples
            } else if row.name.starts_with("RTMP") {
                let url = format!("rtmp://127.0.0.1:{}/live/latency{round}-{n}", ng.port);
                let decode = if row.receiver == GSTREAMER_FRAME_THREADS {
                    decode.to_string()
                } else {
                    decode.replace("avdec_h264", "avdec_h264 thread-type=slice")
                };
                let receiver = format!(
                    "rtmp2src location={url} ! flvdemux name=d d.video ! queue ! h264parse ! {decode}"
                );
                let sender = if ffmpeg_sends {
                    ffmpeg(SOURCE, frames, &x264, &["-f", "flv", &url])
                } else {
                    ours(SOURCE, frames, &format!("mode=rtmp url={url} {SETTINGS}"))
                };
                measure(&receiver, sender, true)
            } else {
                let protocol = if row.name.contains("UDP") {
                    "udp"
                } else {
                    "tcp"
                };
                let port = free_port();
                let receiver = format!(
                    "rtspsrc location=rtsp://127.0.0.1:{port}/bench protocols={protocol} latency=0 ! rtph264depay ! h264parse ! {decode}"
                );
                let sender = ours(
                    SOURCE,
                    frames,
                    &format!("mode=rtsp-server port={port} stream-name=bench {SETTINGS}"),
                );
                measure(&receiver, sender, false)
            };
            eprintln!(
                "{} {} → {}: {} decoded, {} stamps unreadable, p50 {:.1} ms",
                row.name,
                row.sender,
                row.receiver,
                samples.decoded,
                samples.unreadable,
                percentile(&samples.pixel, 0.5)
            );
            row.runs.push(samples);
        }
    }
    drop(ng);

    // The line a user would run for nvencstreamsink's SRT row (the others differ in mode and url).
    let user_line = common::user_sender::as_gst_launch(&common::glass::stamped_line(
        SOURCE,
        frames,
        &format!(
            "tdmetainject ! nvencstreamsink mode=srt url=srt://127.0.0.1:PORT?mode=caller&latency=120 {SETTINGS}"
        ),
    ));
    let mut md = format!(
        "## Glass-to-glass latency on loopback, against FFmpeg (issues #9, #20, #29)\n\n\
         1280×720 at 30 fps, software H.264 (`{SETTINGS}`), video only, {seconds} s per run, first \
         {SKIP} decoded frames skipped. Latency = wall-clock time written into each picture as it leaves \
         the source, read back from the picture leaving the decoder on the receiving side, the same receivers for \
         both senders. **Every sender runs in a process of its own, as users run it**: nvencstreamsink in \
         an application that handles LATENCY messages as gst-launch-1.0 does (this benchmark's binary again, \
         `--user-sender`, which also writes the stamp), the same as `{user_line}`; \
         FFmpeg as its own process. GStreamer: for SRT `srtsrc ! tsdemux ! tdmetaextract ! avdec_h264`, without the \
         `h264parse` most receivers put there (tsdemux gives whole access units but does not say so in \
         its caps, and h264parse then holds each one until the next begins, one frame interval more for \
         every sender); for RTMP `rtmp2src ! flvdemux ! queue ! h264parse ! tdmetaextract ! avdec_h264 \
         thread-type=slice` (rtmp2src is not a live source, so avdec_h264 left to itself decodes \
         frame-threaded and holds a picture per extra thread: the row *thread-type=auto*). FFmpeg (SRT): `ffmpeg -fflags nobuffer -flags low_delay -probesize 32 \
         -analyzeduration 0 -i srt://… -f rawvideo pipe:1`, its demuxer and decoder, the pictures read \
         from the pipe. FFmpeg {ffmpeg} gets the same pictures through a pipe and \
         the x264 settings read off nvencstreamsink's running x264enc: `ffmpeg -f rawvideo … -c:v libx264 \
         {x264} -flush_packets 1`. FFmpeg cannot serve RTSP to several clients (its RTSP listen mode \
         takes one), so RTSP has no FFmpeg row. Median over {rounds} runs (min–max) of each run's \
         p50 and p95; ms. Command: `./run bench`.\n\n\
         | transport | sender | receiver | frames decoded per run (stamps unreadable) | p50 ms | p95 ms | p50 ms from the metadata capture time | encode ms (last-encode-time) |\n\
         |---|---|---|---|---|---|---|---|\n",
        ffmpeg = ffmpeg_version(),
        x264 = x264.join(" "),
    );
    for row in &rows {
        let col =
            |f: &dyn Fn(&Samples) -> f64, digits| bench::runs_cell(row.runs.iter().map(f), digits);
        md.push_str(&format!(
            "| {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
            row.name,
            row.sender,
            row.receiver,
            col(&|s| s.decoded as f64, 0),
            row.runs.iter().map(|s| s.unreadable).sum::<usize>(),
            col(&|s| percentile(&s.pixel, 0.5), 1),
            col(&|s| percentile(&s.pixel, 0.95), 1),
            col(&|s| percentile(&s.meta, 0.5), 1),
            col(&|s| percentile(&s.encode, 0.5), 1),
        ));
    }
    if !unmapped.is_empty() {
        md.push_str(&format!(
            "\nx264enc properties nvencstreamsink set that FFmpeg was not given: {}.\n",
            unmapped.join(", ")
        ));
    }
    md.push('\n');
    bench::write_section("latency.md", &md);
}
