//! The muxer against FFmpeg 7's own enhanced-FLV muxer, byte for byte, on the same access units.
//! The fixtures are made by `tests/fixtures/eflv/make.py` (GStreamer encodes; FFmpeg 7.0.2 remuxes).

use super::muxer::{Frame, Muxer, VideoConfig};
use super::video::VideoCodec;

/// pts, dts (ns), keyframe, bytes.
type Sample = (Option<i64>, Option<i64>, bool, Vec<u8>);

struct Samples {
    codec_data: Vec<u8>,
    frames: Vec<Sample>,
}

fn be(data: &[u8], at: usize, n: usize) -> u64 {
    data[at..at + n]
        .iter()
        .fold(0, |v, b| (v << 8) | u64::from(*b))
}

fn samples(data: &[u8]) -> Samples {
    assert_eq!(&data[..10], b"TDSAMPLES1");
    let n = be(data, 10, 4) as usize;
    let codec_data = data[14..14 + n].to_vec();
    let mut at = 14 + n;
    let mut frames = Vec::new();
    let time = |v: u64| (v != u64::MAX).then_some(v as i64);
    while at < data.len() {
        let (pts, dts) = (be(data, at, 8), be(data, at + 8, 8));
        let key = data[at + 16] == 1;
        let len = be(data, at + 17, 4) as usize;
        frames.push((
            time(pts),
            time(dts),
            key,
            data[at + 21..at + 21 + len].to_vec(),
        ));
        at += 21 + len;
    }
    Samples { codec_data, frames }
}

/// The tags of an FLV file (after the 13-byte header), each with its previous-tag-size.
fn tags(flv: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 13;
    while at + 11 <= flv.len() {
        let size = be(flv, at + 1, 3) as usize;
        out.push(&flv[at..at + 15 + size]);
        at += 15 + size;
    }
    out
}

fn is_script(t: &[u8]) -> bool {
    t[0] == 18
}

/// FFmpeg 7 adds a `colorInfo` metadata packet (PacketType 4) after the sequence start; we do not.
fn is_video_metadata_packet(t: &[u8]) -> bool {
    t[0] == 9 && t[11] & 0x8F == 0x84
}

fn compare(samples_file: &[u8], ffmpeg_flv: &[u8], codec: VideoCodec) {
    let s = samples(samples_file);
    let mut m = Muxer::new(
        Some(VideoConfig {
            codec,
            config: (!s.codec_data.is_empty()).then(|| s.codec_data.clone()),
            width: 160,
            height: 120,
            framerate: Some(25.0),
        }),
        None,
    );
    let mut ours = Vec::new();
    for (pts, dts, key, data) in &s.frames {
        let frame = Frame {
            pts: *pts,
            dts: *dts,
            key: *key,
            data,
        };
        for t in m.push_video(&frame).expect("mux") {
            ours.extend_from_slice(&t.bytes);
        }
    }
    // The same file header (video only).
    assert_eq!(&ours[..13], &ffmpeg_flv[..13]);
    let (ours_tags, theirs) = (tags(&ours), tags(ffmpeg_flv));
    let ours_media: Vec<_> = ours_tags.iter().filter(|t| !is_script(t)).collect();
    let theirs_media: Vec<_> = theirs
        .iter()
        .filter(|t| !is_script(t) && !is_video_metadata_packet(t))
        .collect();
    assert_eq!(ours_media.len(), theirs_media.len());
    for (i, (a, b)) in ours_media.iter().zip(&theirs_media).enumerate() {
        assert_eq!(
            a,
            b,
            "tag {i} differs: ours {:02x?}… theirs {:02x?}…",
            &a[..a.len().min(24)],
            &b[..b.len().min(24)]
        );
    }
    // onMetaData: the same width, height, frame rate and FourCC `videocodecid` as FFmpeg writes.
    let script = |v: &[&[u8]]| v.iter().find(|t| is_script(t)).expect("script").to_vec();
    let (ours_meta, theirs_meta) = (script(&ours_tags), script(&theirs));
    for key in ["width", "height", "framerate", "videocodecid"] {
        let mut needle = (key.len() as u16).to_be_bytes().to_vec();
        needle.extend_from_slice(key.as_bytes());
        let value = |meta: &[u8]| {
            let at = meta
                .windows(needle.len())
                .position(|w| w == needle.as_slice())
                .unwrap_or_else(|| panic!("{key} missing"));
            meta[at + needle.len()..at + needle.len() + 9].to_vec()
        };
        assert_eq!(value(&ours_meta), value(&theirs_meta), "{key}");
    }
}

#[test]
fn hevc_with_b_frames_matches_ffmpeg_7() {
    compare(
        include_bytes!("../../tests/fixtures/eflv/hevc.samples"),
        include_bytes!("../../tests/fixtures/eflv/hevc.ffmpeg.flv"),
        VideoCodec::Hevc,
    );
}

#[test]
fn av1_matches_ffmpeg_7_including_the_av1c_record() {
    compare(
        include_bytes!("../../tests/fixtures/eflv/av1.samples"),
        include_bytes!("../../tests/fixtures/eflv/av1.ffmpeg.flv"),
        VideoCodec::Av1,
    );
}
