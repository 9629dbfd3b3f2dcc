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

use common::{bench, free_port, nginx::nginx, poll, srt_listener, stamp, Peer};
use gst::prelude::*;
use gsttdstream::meta::frame_meta;
use gsttdstream::meta::latency::now_us;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SOURCE: &str = "videotestsrc is-live=true pattern=ball ! \
                      video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! identity name=stamp";
const SETTINGS: &str =
    "quality=lowlatencyhigh keyframe-interval=30 avg-bitrate=4 include-silent-audio=off";
/// Decoded frames skipped at the start of each run (connection, first keyframe).
const SKIP: usize = 30;

#[derive(Default)]
struct Samples {
    decoded: usize,
    /// Age of the picture's stamp, ms.
    pixel: Vec<f64>,
    /// Age of tdmetainject's capture time, ms (nvencstreamsink only).
    meta: Vec<f64>,
    /// Decoded pictures whose stamp did not read back.
    unreadable: usize,
    /// nvencstreamsink's own `last-encode-time`, ms, sampled while it runs.
    encode: Vec<f64>,
}

/// What sends: a GStreamer pipeline (stamping its pictures), and for FFmpeg the process it feeds.
struct Sender {
    pipeline: gst::Pipeline,
    ffmpeg: Option<Peer>,
}

fn launch(line: &str) -> gst::Pipeline {
    gst::parse::launch(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline")
}

/// `frames` pictures of SOURCE, each stamped with the wall-clock time, into `tail`.
fn stamped(frames: u32, tail: &str) -> gst::Pipeline {
    let source = SOURCE.replacen(
        "is-live=true",
        &format!("is-live=true num-buffers={frames}"),
        1,
    );
    let pipeline = launch(&format!("{source} ! {tail}"));
    if let Some(e) = pipeline.by_name("stamp") {
        stamp::stamp_at(&e);
    }
    pipeline
}

fn ours(frames: u32, props: &str) -> Sender {
    let pipeline = stamped(
        frames,
        &format!("tdmetainject ! nvencstreamsink name=s {props} {SETTINGS}"),
    );
    Sender {
        pipeline,
        ffmpeg: None,
    }
}

/// FFmpeg encoding with `x264` (its arguments) and sending with `output` (format and URL arguments),
/// fed the stamped raw pictures through its standard input.
fn ffmpeg(frames: u32, x264: &[String], output: &[&str]) -> Sender {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "rawvideo"])
        .args([
            "-pix_fmt",
            "yuv420p",
            "-video_size",
            "1280x720",
            "-framerate",
            "30",
        ])
        .args(["-i", "pipe:0", "-an", "-c:v", "libx264"])
        .args(x264)
        .args(["-flush_packets", "1"])
        .args(output)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (Debian package ffmpeg; ./run setup)");
    let fd = child.stdin.as_ref().map_or(-1, |s| s.as_raw_fd());
    let pipeline = stamped(frames, &format!("fdsink fd={fd} sync=false"));
    Sender {
        pipeline,
        ffmpeg: Some(Peer {
            child,
            name: "ffmpeg".into(),
        }),
    }
}

/// Runs `sender` to its end while `receiver` (a pipeline ending in `fakesink name=out` after the
/// decoder) plays, and collects the latency of every decoded picture after the first second.
fn measure(receiver: &str, sender: Sender, receiver_first: bool) -> Samples {
    let rx = launch(receiver);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let out = rx.by_name("out").expect("out");
    let s = samples.clone();
    stamp::read_at(&out, move |ms| {
        let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
        s.decoded += 1;
        match ms {
            Some(ms) if s.decoded > SKIP => s.pixel.push(ms),
            Some(_) => {}
            None => s.unreadable += 1,
        }
    });
    let s = samples.clone();
    if let Some(pad) = out.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(Some(Ok(d))) = info.buffer().map(|b| frame_meta::read(b)) {
                let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
                if let (Some(c), true) = (d.capture_us, s.decoded > SKIP) {
                    s.meta.push((now_us() - c) as f64 / 1000.0);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    let Sender {
        pipeline: tx,
        mut ffmpeg,
    } = sender;
    if receiver_first {
        let _ = rx.set_state(gst::State::Playing);
        let _ = tx.set_state(gst::State::Playing);
    } else {
        let _ = tx.set_state(gst::State::Playing);
        // RTSP: the mount appears once the sender runs; retry until frames come.
        poll(Duration::from_secs(15), || {
            let _ = rx.set_state(gst::State::Playing);
            let got = poll(Duration::from_secs(3), || {
                (samples.lock().unwrap_or_else(|e| e.into_inner()).decoded > 0).then_some(())
            });
            if got.is_none() {
                let _ = rx.set_state(gst::State::Null);
            }
            got
        });
    }
    let sink = tx.by_name("s");
    if let Some(bus) = tx.bus() {
        for _ in 0..400 {
            let end = bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(100),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
            if let Some(stats) = sink.as_ref().map(|s| s.property::<gst::Structure>("stats")) {
                if let Ok(ms) = stats.get::<f64>("last-encode-time") {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .encode
                        .push(ms);
                }
            }
            match end.as_ref().map(|m| m.view()) {
                Some(gst::MessageView::Error(e)) => {
                    eprintln!("sender: {} ({:?})", e.error(), e.debug());
                    break;
                }
                Some(_) => break,
                None => {}
            }
        }
    }
    let _ = tx.set_state(gst::State::Null);
    if let Some(mut peer) = ffmpeg.take() {
        // End of input: FFmpeg flushes and exits.
        drop(peer.child.stdin.take());
        let (ok, _, err) = peer.wait_output(Duration::from_secs(10));
        if !ok {
            eprintln!("ffmpeg: {err}");
        }
    }
    if let Some(gst::MessageView::Error(e)) = rx
        .bus()
        .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
        .as_ref()
        .map(|m| m.view())
    {
        eprintln!("receiver: {} ({:?})", e.error(), e.debug());
    }
    let _ = rx.set_state(gst::State::Null);
    let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *s)
}

/// FFmpeg's libx264 arguments for the `x264enc` (and the profile capsfilter after it) that
/// nvencstreamsink ran, and the x264enc properties that have no FFmpeg counterpart here.
fn ffmpeg_x264(elements: &[gst::Element]) -> (Vec<String>, Vec<String>) {
    let x264 = elements
        .iter()
        .position(|e| e.factory().is_some_and(|f| f.name() == "x264enc"))
        .expect("nvencstreamsink ran x264enc");
    let enc = &elements[x264];
    let text = |name: &str| {
        enc.property_value(name)
            .serialize()
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    let bitrate = enc.property::<u32>("bitrate");
    let vbv_ms = enc.property::<u32>("vbv-buf-capacity");
    let mut args: Vec<String> = vec![
        "-b:v".into(),
        format!("{bitrate}k"),
        "-maxrate".into(),
        format!("{bitrate}k"),
        "-bufsize".into(),
        format!("{}k", u64::from(bitrate) * u64::from(vbv_ms) / 1000),
        "-g".into(),
        enc.property::<u32>("key-int-max").to_string(),
        "-bf".into(),
        enc.property::<u32>("bframes").to_string(),
        "-preset".into(),
        text("speed-preset"),
    ];
    let tune = text("tune").to_lowercase().replace(' ', "");
    if !tune.is_empty() && tune != "(none)" && tune != "0" {
        args.extend(["-tune".into(), tune.replace('+', ",")]);
    }
    if let Some(opts) = enc.property::<Option<String>>("option-string") {
        if !opts.is_empty() {
            args.extend(["-x264-params".into(), opts]);
        }
    }
    if enc.property::<bool>("intra-refresh") {
        args.extend(["-intra-refresh".into(), "1".into()]);
    }
    let profile = elements[x264 + 1..]
        .iter()
        .find(|e| e.factory().is_some_and(|f| f.name() == "capsfilter"))
        .and_then(|f| {
            let caps = f.property::<gst::Caps>("caps");
            caps.structure(0)?.get::<String>("profile").ok()
        });
    if let Some(p) = profile {
        args.extend(["-profile:v".into(), p]);
    }
    let mapped = [
        "bitrate",
        "vbv-buf-capacity",
        "key-int-max",
        "bframes",
        "speed-preset",
        "tune",
        "option-string",
        "intra-refresh",
    ];
    let unmapped = enc
        .list_properties()
        .iter()
        .filter(|p| {
            p.flags().contains(gst::glib::ParamFlags::READWRITE)
                && !["name", "parent"].contains(&p.name())
                && !mapped.contains(&p.name())
                && enc.property_value(p.name()).serialize().ok()
                    != p.default_value().serialize().ok()
        })
        .map(|p| p.name().to_string())
        .collect();
    (args, unmapped)
}

struct Row {
    name: &'static str,
    sender: &'static str,
    runs: Vec<Samples>,
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    bench::init_or_exit();
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
    let mut rows = vec![
        Row {
            name: "SRT (latency=120 ms)",
            sender: "nvencstreamsink",
            runs: vec![],
        },
        Row {
            name: "SRT (latency=120 ms)",
            sender: "FFmpeg",
            runs: vec![],
        },
        Row {
            name: "RTMP via nginx-rtmp",
            sender: "nvencstreamsink",
            runs: vec![],
        },
        Row {
            name: "RTMP via nginx-rtmp",
            sender: "FFmpeg",
            runs: vec![],
        },
        Row {
            name: "RTSP over UDP",
            sender: "nvencstreamsink",
            runs: vec![],
        },
        Row {
            name: "RTSP over TCP",
            sender: "nvencstreamsink",
            runs: vec![],
        },
    ];
    for round in 0..rounds {
        for row in rows.iter_mut() {
            let ffmpeg_sends = row.sender == "FFmpeg";
            let samples = if row.name.starts_with("SRT") {
                let port = free_port();
                let receiver = format!(
                    "srtsrc uri=srt://127.0.0.1:{port}?mode=listener&latency=120 ! tsdemux ! {decode}"
                );
                let sender = if ffmpeg_sends {
                    let url =
                        format!("srt://127.0.0.1:{port}?mode=caller&latency=120000&pkt_size=1316");
                    ffmpeg(frames, &x264, &["-f", "mpegts", &url])
                } else {
                    ours(
                        frames,
                        &format!("mode=srt url=srt://127.0.0.1:{port}?mode=caller&latency=120"),
                    )
                };
                measure(&receiver, sender, true)
            } else if row.name.starts_with("RTMP") {
                let url = format!(
                    "rtmp://127.0.0.1:{}/live/latency{round}{}",
                    ng.port, row.sender
                );
                let receiver = format!(
                    "rtmp2src location={url} ! flvdemux name=d d.video ! queue ! h264parse ! {decode}"
                );
                let sender = if ffmpeg_sends {
                    ffmpeg(frames, &x264, &["-f", "flv", &url])
                } else {
                    ours(frames, &format!("mode=rtmp url={url}"))
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
                    frames,
                    &format!("mode=rtsp-server port={port} stream-name=bench"),
                );
                measure(&receiver, sender, false)
            };
            eprintln!(
                "{} {}: {} decoded, {} stamps unreadable, p50 {:.1} ms",
                row.name,
                row.sender,
                samples.decoded,
                samples.unreadable,
                percentile(&samples.pixel, 0.5)
            );
            row.runs.push(samples);
        }
    }
    drop(ng);

    let mut md = format!(
        "## Glass-to-glass latency on loopback, against FFmpeg (issue #9)\n\n\
         1280×720 at 30 fps, software H.264 (`{SETTINGS}`), video only, {seconds} s per run, first \
         {SKIP} decoded frames skipped. Latency = wall-clock time written into each picture as it leaves \
         the source, read back from the picture leaving `avdec_h264` on the receiving side (the same \
         receiving pipeline for both senders; for SRT `srtsrc ! tsdemux ! avdec_h264`, without the \
         `h264parse` most receivers put there: tsdemux gives whole access units but does not say so in \
         its caps, and h264parse then holds each one until the next begins, one frame interval more for \
         every sender — 196 instead of 163 ms p50 in a trial run). FFmpeg {ffmpeg} gets the same pictures through a pipe and \
         the x264 settings read off nvencstreamsink's running x264enc: `ffmpeg -f rawvideo … -c:v libx264 \
         {x264} -flush_packets 1`. FFmpeg cannot serve RTSP to several clients (its RTSP listen mode \
         takes one), so RTSP has no FFmpeg row. Median over {rounds} runs (min–max) of each run's \
         p50 and p95; ms. Command: `./run bench`.\n\n\
         | transport | sender | frames decoded per run (stamps unreadable) | p50 ms | p95 ms | p50 ms from the metadata capture time | encode ms (last-encode-time) |\n\
         |---|---|---|---|---|---|---|\n",
        ffmpeg = ffmpeg_version(),
        x264 = x264.join(" "),
    );
    for row in &rows {
        let col = |f: &dyn Fn(&Samples) -> f64, digits| {
            let mut v: Vec<f64> = row.runs.iter().map(f).filter(|x| x.is_finite()).collect();
            if v.is_empty() {
                "–".to_string()
            } else {
                bench::cell(bench::median(&mut v), digits)
            }
        };
        md.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {} | {} | {} |\n",
            row.name,
            row.sender,
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

fn ffmpeg_version() -> String {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            let out = String::from_utf8_lossy(&o.stdout).to_string();
            out.split_whitespace().nth(2).map(str::to_string)
        })
        .unwrap_or_default()
}
