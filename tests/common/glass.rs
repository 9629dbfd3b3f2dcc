//! Glass-to-glass latency of a sender, as the benchmarks measure it: the wall-clock time written into
//! each picture as it leaves the source ([`super::stamp`]), read back from the picture leaving the
//! decoder on the receiving side; nvencstreamsink or FFmpeg (libx264, the x264 settings read off
//! nvencstreamsink's running x264enc) sending the same pictures.

use super::user_sender::{Report, UserSender};
use super::{poll, stamp, Peer};
use gst::prelude::*;
use gsttdstream::meta::frame_meta;
use gsttdstream::meta::latency::now_us;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Decoded frames skipped at the start of each run (connection, first keyframe).
pub const SKIP: usize = 30;

#[derive(Default)]
pub struct Samples {
    pub decoded: usize,
    /// Age of the picture's stamp, ms.
    pub pixel: Vec<f64>,
    /// Age of tdmetainject's capture time, ms (nvencstreamsink only).
    pub meta: Vec<f64>,
    /// Decoded pictures whose stamp did not read back.
    pub unreadable: usize,
    /// nvencstreamsink's own `last-encode-time`, ms, sampled while it runs.
    pub encode: Vec<f64>,
    /// nvencstreamsink's `bitrate` (bit/s handed to the network sink), sampled while it runs.
    pub bitrate: Vec<f64>,
}

/// What sends.
pub enum Sender {
    /// nvencstreamsink as users run it: a process of its own ([`UserSender`]) running this launch line.
    Process(String),
    /// FFmpeg: the stamped pictures come from a pipeline in this process, through a pipe into FFmpeg.
    Ffmpeg {
        pipeline: gst::Pipeline,
        ffmpeg: Peer,
    },
}

pub fn launch(line: &str) -> gst::Pipeline {
    gst::parse::launch(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline")
}

/// `frames` pictures of SOURCE into `tail`, as a launch line.
pub fn stamped_line(source: &str, frames: u32, tail: &str) -> String {
    let source = source.replacen(
        "is-live=true",
        &format!("is-live=true num-buffers={frames}"),
        1,
    );
    format!("{source} ! {tail}")
}

/// `frames` pictures of SOURCE, each stamped with the wall-clock time, into `tail`.
pub fn stamped(source: &str, frames: u32, tail: &str) -> gst::Pipeline {
    let pipeline = launch(&stamped_line(source, frames, tail));
    if let Some(e) = pipeline.by_name("stamp") {
        stamp::stamp_at(&e);
    }
    pipeline
}

/// nvencstreamsink with `props` sending `frames` stamped pictures of SOURCE, run as users run it.
pub fn ours(source: &str, frames: u32, props: &str) -> Sender {
    Sender::Process(stamped_line(
        source,
        frames,
        &format!("tdmetainject ! nvencstreamsink name=s {props}"),
    ))
}

/// FFmpeg encoding with `x264` (its arguments) and sending with `output` (format and URL arguments),
/// fed the stamped raw pictures through its standard input.
pub fn ffmpeg(source: &str, frames: u32, x264: &[String], output: &[&str]) -> Sender {
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
    let pipeline = stamped(source, frames, &format!("fdsink fd={fd} sync=false"));
    Sender::Ffmpeg {
        pipeline,
        ffmpeg: Peer {
            child,
            name: "ffmpeg".into(),
        },
    }
}

/// FFmpeg as the receiver: it listens at `url` (an SRT listener URL), demuxes and decodes with its
/// lowest-latency reading (no probing beyond the first packet, no input buffering, no frame threading)
/// and writes the raw pictures to a pipe; returned with the receiving pipeline for [`measure`] that
/// reads them from that pipe (the stamp is read as each picture comes out of FFmpeg's decoder).
pub fn ffmpeg_receiver(url: &str) -> (Peer, String) {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-fflags", "nobuffer", "-flags", "low_delay"])
        .args(["-probesize", "32", "-analyzeduration", "0", "-i", url])
        .args(["-an", "-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .args(["-fps_mode", "passthrough", "-flush_packets", "1", "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg (Debian package ffmpeg; ./run setup)");
    let fd = child.stdout.as_ref().map_or(-1, |s| s.as_raw_fd());
    let receiver = format!(
        "fdsrc fd={fd} blocksize=1382400 ! rawvideoparse format=i420 width=1280 height=720 \
         framerate=30/1 ! fakesink name=out sync=false async=false"
    );
    (
        Peer {
            child,
            name: "ffmpeg receiver".into(),
        },
        receiver,
    )
}

/// Runs `sender` to its end while `receiver` (a pipeline ending in `fakesink name=out` after the
/// decoder) plays, and collects the latency of every decoded picture after the first second.
pub fn measure(receiver: &str, sender: Sender, receiver_first: bool) -> Samples {
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
    // The sender's process starts when the receiver waits for it, or the other way round (RTSP: the
    // mount appears once the sender runs; retry until frames come).
    let start = || match &sender {
        Sender::Process(line) => Some(UserSender::start(line)),
        Sender::Ffmpeg { pipeline, .. } => {
            let _ = pipeline.set_state(gst::State::Playing);
            None
        }
    };
    let started = if receiver_first {
        let _ = rx.set_state(gst::State::Playing);
        start()
    } else {
        let started = start();
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
        started
    };
    match (started, sender) {
        (Some(process), _) => {
            let launch = process.launch.clone();
            let (ended, reports) = process.finish(Duration::from_secs(40));
            if !ended {
                eprintln!("sender did not end by itself: {launch}");
            }
            let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
            for r in reports {
                match r {
                    Report::Encode(ms) => s.encode.push(ms),
                    Report::Bitrate(bps) => s.bitrate.push(bps),
                    Report::State(_) => {}
                }
            }
        }
        (None, Sender::Ffmpeg { pipeline, ffmpeg }) => {
            if let Some(bus) = pipeline.bus() {
                let end = bus.timed_pop_filtered(
                    gst::ClockTime::from_seconds(40),
                    &[gst::MessageType::Eos, gst::MessageType::Error],
                );
                if let Some(gst::MessageView::Error(e)) = end.as_ref().map(|m| m.view()) {
                    eprintln!("sender: {} ({:?})", e.error(), e.debug());
                }
            }
            let _ = pipeline.set_state(gst::State::Null);
            let mut peer = ffmpeg;
            // End of input: FFmpeg flushes and exits.
            drop(peer.child.stdin.take());
            let (ok, _, err) = peer.wait_output(Duration::from_secs(10));
            if !ok {
                eprintln!("ffmpeg: {err}");
            }
        }
        (None, Sender::Process(_)) => {}
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
pub fn ffmpeg_x264(elements: &[gst::Element]) -> (Vec<String>, Vec<String>) {
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

pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub fn ffmpeg_version() -> String {
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
