//! Benchmark (not a test): what per-frame metadata costs (issue #5; issue #9, figure 2).
//!
//! Run with `./run bench` (or `cargo bench --bench metadata` after `./run build`). Prints a Markdown
//! section and writes it to `target/bench/metadata.md`.
//!
//! - Cost per frame of inject (encode + attach), embed and extract (find + decode + attach), for 16
//!   channels and a 4×4 table on a 60 kB access unit: median of 7 batches of 5000 frames.
//! - Whether the picture is copied: the slice memory after embedding must point into the encoder's
//!   allocation.
//! - Pipeline CPU of a 720p30 SRT stream with and without metadata on every frame (glass-to-glass
//!   latency, which the metadata also measures, is in `benches/latency.rs`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{free_port, srt_listener};
use gsttdstream::meta::latency::now_us;
use gsttdstream::meta::sei::{Codec, Framing};
use gsttdstream::meta::wire::FrameData;
use gsttdstream::meta::{embed, extract, frame_meta};
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

/// Writes the cost-per-frame table; returns the sender-side cost (inject + embed) in µs per frame.
fn micro(md: &mut String) -> f64 {
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
    // time_batches gives ns.
    (inject.0 + embed_cost.0) / 1000.0
}

/// Pipeline CPU with and without metadata: the same 720p30 SRT stream, once with tdmetainject sending
/// 16 channels and a 4×4 table on every frame (embedded by nvencstreamsink), once without; one
/// `gst-launch-1.0` process per run under GNU time, alternating.
fn pipeline_cpu(md: &mut String, sender_us_per_frame: f64) {
    let seconds = common::bench::env_u32("METADATA_SECONDS", 15);
    let rounds = common::bench::env_u32("METADATA_ROUNDS", 3);
    let source =
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=1280,height=720,framerate=30/1";
    let channels = (0..16)
        .map(|i| format!("ch{i}=(double){i}.5"))
        .collect::<Vec<_>>()
        .join(", ");
    let table = "a,b,c,d;e,f,g,h;i,j,k,l;m,n,o,p";
    let settings =
        "include-silent-audio=off quality=lowlatencymedium avg-bitrate=4 keyframe-interval=60";
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for metadata in [true, false] {
            let port = free_port();
            let _peer = srt_listener(port, None, None);
            let inject = if metadata {
                format!("tdmetainject channels=\"c, {channels}\" table=\"{table}\" ! ")
            } else {
                String::new()
            };
            let launch = format!(
                "{source} ! {inject}nvencstreamsink mode=srt url=srt://127.0.0.1:{port}?mode=caller {settings}"
            );
            let run = common::bench::timed_launch(&launch, seconds);
            eprintln!("metadata {metadata}: {:.2} s CPU", run.cpu_s);
            if metadata { &mut with } else { &mut without }.push(run.cpu_s);
        }
    }
    let (w, wo) = (
        common::bench::median(&mut with),
        common::bench::median(&mut without),
    );
    md.push_str(&format!(
        "### Pipeline CPU with and without metadata\n\n\
         1280×720 at 30 fps over SRT, software H.264 (`{settings}`), {seconds} s per run; with: \
         `tdmetainject` sending 16 channels and a 4×4 table on every frame, embedded as SEI by \
         nvencstreamsink; without: the same line without tdmetainject. CPU = user + system seconds of \
         the `gst-launch-1.0` process (GNU time); median of {rounds} alternating rounds (min–max). \
         Target: ratio ≤ 1.01.\n\n\
         | with metadata, CPU s | without, CPU s | ratio | expected from the cost per frame |\n|---|---|---|---|\n\
         | {} | {} | {:.3} | {:.4} |\n\n",
        common::bench::cell(w, 2),
        common::bench::cell(wo, 2),
        w.0 / wo.0,
        // inject + embed per frame (measured above) × frames, over the pipeline's CPU.
        1.0 + sender_us_per_frame * 1e-6 * f64::from(seconds * 30) / wo.0,
    ));
}

fn main() {
    common::bench::init_or_exit();
    let mut md = String::from("## Per-frame metadata (issue #5)\n\nCommand: `./run bench`.\n\n");
    let sender_us_per_frame = micro(&mut md);
    pipeline_cpu(&mut md, sender_us_per_frame);
    common::bench::write_section("metadata.md", &md);
}
