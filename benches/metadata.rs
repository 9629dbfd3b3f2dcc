//! Benchmark (not a test): per-frame metadata cost and glass-to-glass latency (issue #5).
//!
//! Run with `./run bench` (or `cargo bench --bench metadata` after `./run build`). Prints a Markdown
//! section and writes it to `target/bench/metadata.md`.
//!
//! - Cost per frame of inject (encode + attach), embed and extract (find + decode + attach), for 16
//!   channels and a 4×4 table on a 60 kB access unit: median of 7 batches of 5000 frames.
//! - Whether the picture is copied: the slice memory after embedding must point into the encoder's
//!   allocation.
//! - Glass-to-glass latency at 720p30 with quality=lowlatencyhigh, per transport on loopback: capture
//!   time (tdmetainject) to the decoder's output (TdFrameMeta on the decoded frame), p50 and p95.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{free_port, nginx::nginx, poll};
use gst::prelude::*;
use gsttdstream::meta::latency::now_us;
use gsttdstream::meta::sei::{Codec, Framing};
use gsttdstream::meta::wire::FrameData;
use gsttdstream::meta::{embed, extract, frame_meta};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BATCH: usize = 5000;
const BATCHES: usize = 7;

fn frame_data(n: u64) -> FrameData {
    FrameData {
        frame: Some(n),
        capture_us: Some(now_us()),
        timecode: None,
        channels: (0..16)
            .map(|i| (format!("chan{i}"), vec![n as f64 * 0.25 + i as f64]))
            .collect(),
        table: (0..4)
            .map(|r| (0..4).map(|c| format!("r{r}c{c}")).collect())
            .collect(),
    }
}

/// A 60 kB H.264 byte-stream IDR access unit (AUD, SPS, PPS, slice) in one memory.
fn access_unit() -> gst::Buffer {
    let mut au = vec![
        0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xee,
    ];
    au.extend_from_slice(&[0, 0, 0, 1, 0x65]);
    // Slice data without zero bytes (no accidental start codes).
    let mut x = 0x1234_5678u32;
    au.extend((0..60_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 255) as u8 + 1
    }));
    gst::Buffer::from_slice(au)
}

/// ns per frame: the median batch, with min and max. Each buffer is prepared just before its step
/// (hot in the cache, as in a pipeline where the previous element just produced it) and only the
/// step is timed.
fn time_batches(
    mut prepare: impl FnMut() -> gst::Buffer,
    mut op: impl FnMut(&mut gst::BufferRef),
) -> (f64, f64, f64) {
    let mut per_frame = Vec::new();
    for _ in 0..BATCHES {
        let mut total = Duration::ZERO;
        for _ in 0..BATCH {
            let mut b = prepare();
            let buf = b.make_mut();
            let t = Instant::now();
            op(buf);
            total += t.elapsed();
        }
        per_frame.push(total.as_nanos() as f64 / BATCH as f64);
    }
    per_frame.sort_by(|a, b| a.total_cmp(b));
    (per_frame[BATCHES / 2], per_frame[0], per_frame[BATCHES - 1])
}

fn micro(md: &mut String) {
    let au = access_unit();
    let payload = frame_data(1).encode();
    let fresh = || au.copy();
    let data = frame_data(7);
    let inject = time_batches(fresh, |b| frame_meta::write(b, &data));
    let with_meta = || {
        let mut b = au.copy();
        frame_meta::set_payload(b.make_mut(), gst::glib::Bytes::from(payload.as_slice()));
        b
    };
    let embed_cost = time_batches(with_meta, |b| {
        embed::embed(b, Codec::H264, Framing::ByteStream);
    });
    // What a receiver gets: the access unit with its SEI, in one memory.
    let received = {
        let mut b = au.copy();
        frame_meta::set_payload(b.make_mut(), gst::glib::Bytes::from(payload.as_slice()));
        embed::embed(b.make_mut(), Codec::H264, Framing::ByteStream);
        let bytes: Vec<u8> = b.map_readable().map(|m| m.to_vec()).unwrap_or_default();
        gst::Buffer::from_slice(bytes)
    };
    let extract_op = |b: &mut gst::BufferRef| {
        let (found, _) = extract::scan(b, Codec::H264, Framing::ByteStream);
        if let Some(p) = found.into_iter().next() {
            if FrameData::peek(&p).is_ok() {
                frame_meta::set_payload(b, gst::glib::Bytes::from_owned(p));
            }
        }
    };
    let extract_cost = time_batches(|| received.copy(), extract_op);
    // Right after tdmetaembed (three memories: headers, SEI, slice).
    let multi = {
        let mut b = au.copy();
        frame_meta::set_payload(b.make_mut(), gst::glib::Bytes::from(payload.as_slice()));
        embed::embed(b.make_mut(), Codec::H264, Framing::ByteStream);
        b
    };
    let extract_multi = time_batches(|| multi.copy(), extract_op);

    // No copy: the slice memory after embedding points into the original allocation.
    let original = au.map_readable().map(|m| m.as_ptr() as usize).unwrap_or(0);
    let shared = {
        let b = multi.as_ref();
        let last = b.peek_memory(b.n_memory() - 1);
        let ptr = last
            .map_readable()
            .map(|m| m.as_ptr() as usize)
            .unwrap_or(0);
        ptr >= original && ptr < original + au.size()
    };
    let cell = |(m, lo, hi): (f64, f64, f64)| {
        format!("{:.2} ({:.2}–{:.2})", m / 1000.0, lo / 1000.0, hi / 1000.0)
    };
    md.push_str(&format!(
        "### Cost per frame\n\n16 channels + 4×4 table ({} payload bytes) on a 60 kB H.264 access unit; \
         µs per frame (each step timed on its own, on a buffer just prepared), median of {BATCHES} batches of {BATCH} (min–max). Target: under 2 µs for embed \
         and for extract.\n\n\
         | step | µs per frame |\n|---|---|\n\
         | inject (encode payload + attach TdFrameMeta) | {} |\n\
         | embed (build SEI + insert before the slice) | {} |\n\
         | extract (find SEI + check payload + attach), one-memory access unit as received | {} |\n\
         | extract right after embed (three memories) | {} |\n\n\
         Picture data copied by embed: **{}** (the slice memory after embedding points into the \
         encoder's allocation; the SEI is one added memory).\n\n",
        payload.len(),
        cell(inject),
        cell(embed_cost),
        cell(extract_cost),
        cell(extract_multi),
        if shared { "no" } else { "YES" }
    ));
}

/// Latency samples (ms) at the decoder output of `receiver` while `sender` runs for its frames.
fn latency(sender: &str, receiver: &str, start_receiver_first: bool) -> Vec<f64> {
    let rx = gst::parse::launch(receiver)
        .unwrap_or_else(|e| panic!("{receiver}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let s = samples.clone();
    let out = rx.by_name("out").expect("out");
    if let Some(pad) = out.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(Some(Ok(d))) = info.buffer().map(|b| frame_meta::read(b)) {
                if let (Some(c), Some(f)) = (d.capture_us, d.frame) {
                    // Skip the first second (connection, first keyframe).
                    if f >= 30 {
                        s.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((now_us() - c) as f64 / 1000.0);
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    let tx = gst::parse::launch(sender)
        .unwrap_or_else(|e| panic!("{sender}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    if start_receiver_first {
        let _ = rx.set_state(gst::State::Playing);
        let _ = tx.set_state(gst::State::Playing);
    } else {
        let _ = tx.set_state(gst::State::Playing);
        // RTSP: the mount appears once the sender runs; retry until frames come.
        poll(Duration::from_secs(15), || {
            let _ = rx.set_state(gst::State::Playing);
            let got = poll(Duration::from_secs(3), || {
                (!samples.lock().unwrap_or_else(|e| e.into_inner()).is_empty()).then_some(())
            });
            if got.is_none() {
                let _ = rx.set_state(gst::State::Null);
            }
            got
        });
    }
    if let Some(bus) = tx.bus() {
        let end = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(40),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        if let Some(gst::MessageView::Error(e)) = end.as_ref().map(|m| m.view()) {
            eprintln!("sender: {} ({:?})", e.error(), e.debug());
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
    let _ = tx.set_state(gst::State::Null);
    let _ = rx.set_state(gst::State::Null);
    let v = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    v
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn glass_to_glass(md: &mut String) {
    const SECONDS: u32 = 12;
    let source = format!(
        "videotestsrc is-live=true num-buffers={} pattern=ball ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
         tdmetainject",
        SECONDS * 30
    );
    let encode = "quality=lowlatencyhigh keyframe-interval=30 avg-bitrate=4";
    let decode = "tdmetaextract ! avdec_h264 ! fakesink name=out sync=false";
    let mut rows = Vec::new();

    let port = free_port();
    rows.push((
        "SRT (latency=120 ms)",
        latency(
            &format!("{source} ! nvencstreamsink mode=srt url=srt://127.0.0.1:{port}?mode=caller&latency=120 {encode}"),
            &format!("srtsrc uri=srt://127.0.0.1:{port}?mode=listener&latency=120 ! tsdemux ! h264parse ! {decode}"),
            true,
        ),
    ));

    let ng = nginx(None);
    let url = format!("rtmp://127.0.0.1:{}/live/bench", ng.port);
    rows.push((
        "RTMP via nginx-rtmp",
        latency(
            &format!("{source} ! nvencstreamsink mode=rtmp url={url} include-silent-audio=off {encode}"),
            &format!("rtmp2src location={url} ! flvdemux name=d d.video ! queue ! h264parse ! tdmetaextract ! avdec_h264 ! fakesink name=out sync=false async=false"),
            true,
        ),
    ));
    drop(ng);

    for (name, protocol) in [("RTSP over UDP", "udp"), ("RTSP over TCP", "tcp")] {
        let port = free_port();
        let sender = format!(
            "{source} ! nvencstreamsink mode=rtsp-server port={port} stream-name=bench {encode}"
        );
        let receiver = format!(
            "rtspsrc location=rtsp://127.0.0.1:{port}/bench protocols={protocol} latency=0 ! rtph264depay ! h264parse ! {decode}"
        );
        rows.push((name, latency(&sender, &receiver, false)));
    }

    md.push_str(
        "### Glass-to-glass latency on loopback\n\n1280×720 at 30 fps, `nvencstreamsink quality=lowlatencyhigh` \
         (software H.264 here: no NVENC), from the capture time written by tdmetainject to the frame \
         leaving the decoder on the receiving side, first second skipped; ms.\n\n\
         | transport | frames | p50 ms | p95 ms |\n|---|---|---|---|\n",
    );
    for (name, mut v) in rows {
        let n = v.len();
        md.push_str(&format!(
            "| {name} | {n} | {:.1} | {:.1} |\n",
            percentile(&mut v, 0.5),
            percentile(&mut v, 0.95)
        ));
    }
    md.push('\n');
}

fn main() {
    common::bench::init_or_exit();
    let mut md = String::from("## Per-frame metadata (issue #5)\n\nCommand: `./run bench`.\n\n");
    micro(&mut md);
    glass_to_glass(&mut md);
    common::bench::write_section("metadata.md", &md);
}
