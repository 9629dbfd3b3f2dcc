//! Single elements in process with gst_check::Harness: fast (no network, no peer), beside the
//! end-to-end tests that carry the same features through real servers (tests/metadata.rs,
//! tests/eflv.rs). The input is real: access units from x264/x265 encoding videotestsrc.

mod common;

use common::*;
use gst::prelude::*;
use gst_check::Harness;
use gsttdstream::meta::frame_meta;
use gsttdstream::meta::sei::{self, Codec, Framing};
use gsttdstream::meta::wire::{self, FrameData};

const FRAMES: usize = 10;

/// `FRAMES` access units from `encode` (a launch fragment from raw video to parsed, aligned video),
/// with the caps they were negotiated with.
fn encoded(encode: &str) -> (gst::Caps, Vec<gst::Buffer>) {
    init();
    let mut h = Harness::new_parse(encode);
    h.add_src_parse(
        "videotestsrc pattern=ball ! capsfilter caps=video/x-raw,format=I420,width=160,height=120,framerate=30/1",
        false,
    );
    h.play();
    let mut out = Vec::new();
    for _ in 0..FRAMES {
        h.push_from_src().expect("push a raw frame");
    }
    h.push_event(gst::event::Eos::new());
    while let Ok(Some(b)) = h.pull_until_eos() {
        out.push(b);
    }
    let caps = h
        .sinkpad()
        .and_then(|p| p.current_caps())
        .expect("the encoder's output caps");
    assert_eq!(out.len(), FRAMES, "{caps}");
    (caps, out)
}

fn h264() -> (gst::Caps, Vec<gst::Buffer>) {
    encoded(
        "x264enc tune=zerolatency key-int-max=5 ! h264parse ! capsfilter caps=\
         video/x-h264,stream-format=byte-stream,alignment=au",
    )
}

/// What frame `n` carries: its number, a channel that changes with it and a one-cell table.
fn data(n: u64) -> FrameData {
    FrameData {
        frame: Some(n),
        capture_us: Some(1_700_000_000_000_000 + n as i64 * 33_333),
        timecode: None,
        channels: vec![("n".into(), vec![n as f64 * 0.5, -1.0])],
        table: vec![vec![format!("cell {n}")]],
    }
}

/// The same bytes, timestamps and flags in a new buffer: no GstMeta survives, so what a reader gets
/// can only have come through the bitstream.
fn bytes_only(b: &gst::Buffer) -> gst::Buffer {
    let map = b.map_readable().expect("readable");
    let mut copy = gst::Buffer::from_slice(map.to_vec());
    {
        let c = copy.get_mut().expect("new buffer");
        c.set_pts(b.pts());
        c.set_dts(b.dts());
        c.set_duration(b.duration());
        c.set_flags(b.flags());
    }
    copy
}

/// SEI NAL units (type 6) in an H.264 byte-stream access unit.
fn sei_count(b: &gst::Buffer) -> usize {
    let map = b.map_readable().expect("readable");
    map.windows(4)
        .filter(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 6)
        .count()
}

/// The user-data-unregistered SEI messages of an H.264 byte-stream access unit, in order.
fn user_data(b: &gst::Buffer) -> Vec<([u8; 16], Vec<u8>)> {
    let map = b.map_readable().expect("readable");
    sei::nal_units(Framing::ByteStream, &map)
        .iter()
        .flat_map(|u| sei::user_data(Codec::H264, &map[u.nal..u.end]))
        .collect()
}

/// tdmetaembed writes each frame's metadata into the access unit as SEI, and tdmetaextract reads it
/// back from the bytes alone: every frame's values, in order.
#[test]
fn metadata_goes_through_the_bitstream_and_comes_back_equal() {
    let (caps, aus) = h264();
    let mut embed = Harness::new("tdmetaembed");
    embed.set_src_caps(caps.clone());
    let mut extract = Harness::new("tdmetaextract");
    extract.set_src_caps(caps);
    for (n, au) in aus.iter().enumerate() {
        let mut au = au.copy();
        let before = user_data(&au);
        let sei_before = sei_count(&au);
        frame_meta::write(au.make_mut(), &data(n as u64));
        let embedded = embed.push_and_pull(au).expect("tdmetaembed output");
        assert_eq!(
            sei_count(&embedded),
            sei_before + 1,
            "frame {n}: no SEI added"
        );
        // One message more, ours; what the encoder wrote (x264's version string on the first frame,
        // which h264parse also attaches as a meta) is there once, not copied.
        let after = user_data(&embedded);
        assert_eq!(after.len(), before.len() + 1, "frame {n}: {after:?}");
        assert!(before.iter().all(|m| after.contains(m)), "frame {n}");
        assert_eq!(after.iter().filter(|(u, _)| *u == wire::UUID).count(), 1);
        let out = extract
            .push_and_pull(bytes_only(&embedded))
            .expect("tdmetaextract output");
        let got = frame_meta::read(&out)
            .unwrap_or_else(|| panic!("frame {n}: no metadata read from the bitstream"))
            .expect("metadata decodes");
        assert_eq!(got, data(n as u64), "frame {n}");
    }
}

/// A frame without metadata passes tdmetaembed unchanged, and tdmetaextract finds nothing in a
/// stream that carries none.
#[test]
fn frames_without_metadata_pass_unchanged_and_yield_none() {
    let (caps, aus) = h264();
    let mut embed = Harness::new("tdmetaembed");
    embed.set_src_caps(caps.clone());
    let mut extract = Harness::new("tdmetaextract");
    extract.set_src_caps(caps);
    for au in &aus {
        let out = embed.push_and_pull(au.clone()).expect("tdmetaembed output");
        let (a, b) = (au.map_readable().unwrap(), out.map_readable().unwrap());
        assert_eq!(
            a.as_slice(),
            b.as_slice(),
            "tdmetaembed changed a frame without metadata"
        );
        drop((a, b));
        let out = extract
            .push_and_pull(bytes_only(&out))
            .expect("tdmetaextract output");
        assert!(frame_meta::read(&out).is_none());
    }
}

/// tdeflvmux makes Enhanced FLV of H.265 (hvc1): the FLV header, then video tags whose first byte has
/// the enhanced bit and whose FourCC is `hvc1`: a sequence start (the hvcC record) first, then coded
/// frames, the first a keyframe, and the sequence start again before each later keyframe.
#[test]
fn tdeflvmux_writes_enhanced_flv_tags_for_h265() {
    let (caps, aus) = encoded(
        "x265enc tune=zerolatency key-int-max=5 ! h265parse ! capsfilter caps=\
         video/x-h265,stream-format=hvc1,alignment=au",
    );
    let mut mux = Harness::with_padnames("tdeflvmux", Some("video"), Some("src"));
    mux.set_src_caps(caps);
    for au in aus {
        mux.push(au).expect("push into tdeflvmux");
    }
    mux.push_event(gst::event::Eos::new());
    let mut flv = Vec::new();
    // The muxer's output thread has written everything once EOS comes out.
    while let Ok(Some(b)) = mux.pull_until_eos() {
        flv.extend_from_slice(&b.map_readable().expect("readable"));
    }
    assert_eq!(&flv[..3], b"FLV", "no FLV header");
    assert_eq!(flv[4] & 0x01, 0x01, "the header does not announce video");
    let header_len = u32::from_be_bytes(flv[5..9].try_into().unwrap()) as usize;
    // Tags after the header and the first PreviousTagSize.
    let mut at = header_len + 4;
    let mut video = Vec::new();
    while at + 11 <= flv.len() {
        let kind = flv[at];
        let size = u32::from_be_bytes([0, flv[at + 1], flv[at + 2], flv[at + 3]]) as usize;
        let body = &flv[at + 11..at + 11 + size];
        if kind == 9 {
            video.push(body.to_vec());
        }
        at += 11 + size + 4;
    }
    assert_eq!(at, flv.len(), "tags do not add up to the output");
    assert!(video.len() > FRAMES, "{} video tags", video.len());
    for (i, tag) in video.iter().enumerate() {
        assert_eq!(tag[0] & 0x80, 0x80, "video tag {i} is not enhanced");
        assert_eq!(&tag[1..5], b"hvc1", "video tag {i}'s FourCC");
    }
    // Packet types (low nibble): 0 = sequence start, 1 = coded frames, 3 = coded frames without a
    // composition time; frame type (bits 4-6): 1 = keyframe.
    assert_eq!(
        video[0][0] & 0x0f,
        0,
        "the first video tag is not the sequence start"
    );
    assert_eq!(video[0][5], 1, "the hvcC record's version");
    let frames: Vec<&Vec<u8>> = video
        .iter()
        .filter(|t| matches!(t[0] & 0x0f, 1 | 3))
        .collect();
    assert_eq!(frames.len(), FRAMES, "coded-frame tags");
    assert_eq!(
        (frames[0][0] >> 4) & 0x07,
        1,
        "the first frame is not a keyframe"
    );
    // repeat-sequence-start (default true): every keyframe comes right after a sequence start equal to
    // the first, so that a player joining at any keyframe can decode; no other tag is one.
    let keyframes = frames.iter().filter(|t| (t[0] >> 4) & 0x07 == 1).count();
    assert!(
        keyframes >= 2,
        "{keyframes} keyframes in {FRAMES} frames (key-int-max=5)"
    );
    for (i, tag) in video.iter().enumerate() {
        let keyframe = matches!(tag[0] & 0x0f, 1 | 3) && (tag[0] >> 4) & 0x07 == 1;
        if keyframe {
            assert!(
                i > 0 && video[i - 1] == video[0],
                "video tag {i}, a keyframe, does not follow a repeated sequence start"
            );
        }
    }
    let starts = video.iter().filter(|t| t[0] & 0x0f == 0).count();
    assert_eq!(starts, keyframes, "sequence starts, one per keyframe");
}
