//! `rtmp-timecode-interval`: each picture's timecode as an `onMetaData` update in the FLV stream an RTMP
//! destination publishes, the script data that nginx-rtmp relays (with `meta copy`) and FFmpeg reads
//! (docs/FINDINGS.md: `onFI` and `onTextData` are dropped by both).
//!
//! Pure: [`Stamper::tags`] takes the FLV bytes one muxer buffer at a time and says which update tag goes
//! before them. The timecode is the picture's own where its SEI carries tdmetainject's (from a
//! GstVideoTimeCodeMeta), else one derived from its presentation time at the stream's frame rate.

use super::amf0::{self, Value};
use super::tag::{self, TagType};
use super::video::{self, Body, VideoCodec};
use crate::meta::sei::{Codec, Framing};
use crate::meta::wire::{FrameData, Timecode};

/// The `onMetaData` entry the timecode travels in.
pub const KEY: &str = "timecode";

/// The frame rate a derived timecode counts in where onMetaData gives none.
const FALLBACK_FPS: f64 = 30.0;

/// The codec whose SEI can carry a timecode (AV1 temporal units carry none).
fn sei_codec(codec: VideoCodec) -> Option<Codec> {
    match codec {
        VideoCodec::Avc => Some(Codec::H264),
        VideoCodec::Hevc => Some(Codec::H265),
        VideoCodec::Av1 => None,
    }
}

/// The NAL unit length size a configuration record gives (avcC byte 4, hvcC byte 21).
fn length_size(codec: Codec, record: &[u8]) -> Option<usize> {
    let at = match codec {
        Codec::H264 => 4,
        Codec::H265 => 21,
    };
    let n = usize::from(record.get(at)? & 0x03) + 1;
    (n != 3).then_some(n)
}

/// The timecode tdmetainject put in the access unit's SEI, if any.
fn carried(codec: Codec, length: usize, au: &[u8]) -> Option<Timecode> {
    let (payloads, _) = crate::meta::extract::find(codec, Framing::Length(length), au);
    payloads
        .iter()
        .find_map(|p| FrameData::decode(p).ok()?.timecode)
}

/// A non-drop-frame timecode for `pts_ms` at `fps` (rounded up to whole frames per second, as SMPTE
/// counts 29.97 in 30), wrapping after 24 hours.
pub fn derived(pts_ms: i64, fps: f64) -> Timecode {
    let fps = if fps.is_finite() && fps > 0.0 {
        fps
    } else {
        FALLBACK_FPS
    };
    let nominal = fps.ceil().min(255.0) as i64;
    let frame = (pts_ms.max(0) as f64 * fps / 1000.0).round() as i64;
    let seconds = frame / nominal;
    Timecode {
        hours: ((seconds / 3600) % 24) as u8,
        minutes: ((seconds / 60) % 60) as u8,
        seconds: (seconds % 60) as u8,
        frames: (frame % nominal) as u8,
        drop_frame: false,
    }
}

/// Where a timecode came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The picture's SEI (tdmetainject `timecode=true` behind a GstVideoTimeCodeMeta).
    Carried,
    /// The picture's presentation time at the stream's frame rate.
    Derived,
}

/// One connection's FLV stream, watched for pictures. A new one per connection (a new muxer starts with
/// its own onMetaData).
#[derive(Debug, Default)]
pub struct Stamper {
    /// Every how many pictures an update goes out; 0: never.
    interval: u32,
    /// The muxer's own onMetaData body, which each update repeats with the timecode set.
    base: Option<Vec<u8>>,
    fps: f64,
    length: Option<usize>,
    pictures: u64,
}

/// An update to put on the wire before the buffer it was made for.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// A whole FLV script tag.
    pub tag: Vec<u8>,
    pub timecode: Timecode,
    pub source: Source,
}

impl Stamper {
    pub fn new(interval: u32) -> Stamper {
        Stamper {
            interval,
            fps: FALLBACK_FPS,
            ..Stamper::default()
        }
    }

    /// Looks at one muxer buffer; the update for its picture, where one is due.
    pub fn tags(&mut self, bytes: &[u8]) -> Option<Update> {
        if self.interval == 0 {
            return None;
        }
        let mut update = None;
        for t in tag::tags(bytes) {
            match t.kind {
                k if k == TagType::Script as u8 => self.learn(t.body),
                k if k == TagType::Video as u8 => match video::read(t.body) {
                    Body::Config { codec, record } => {
                        if let Some(c) = sei_codec(codec) {
                            self.length = length_size(c, record);
                        }
                    }
                    Body::Picture { codec, cts_ms, au } => {
                        self.pictures += 1;
                        if (self.pictures - 1).is_multiple_of(u64::from(self.interval)) {
                            update = self.update(t.timestamp_ms, cts_ms, sei_codec(codec), au);
                        }
                    }
                    Body::Other => {}
                },
                _ => {}
            }
        }
        update
    }

    /// The muxer's onMetaData (the first one: later ones are ours, never seen here).
    fn learn(&mut self, body: &[u8]) {
        if self.base.is_some() {
            return;
        }
        let Some(entries) = amf0::read_on_metadata(body) else {
            return;
        };
        if let Some((_, Value::Number(fps))) = entries.iter().find(|(k, _)| k == "framerate") {
            if *fps > 0.0 {
                self.fps = *fps;
            }
        }
        self.base = Some(body.to_vec());
    }

    fn update(
        &self,
        timestamp_ms: u32,
        cts_ms: i32,
        codec: Option<Codec>,
        au: &[u8],
    ) -> Option<Update> {
        let own = codec.zip(self.length).and_then(|(c, n)| carried(c, n, au));
        let (timecode, source) = match own {
            Some(tc) => (tc, Source::Carried),
            None => (
                derived(i64::from(timestamp_ms) + i64::from(cts_ms), self.fps),
                Source::Derived,
            ),
        };
        let value = Value::String(timecode.to_string());
        let body = match &self.base {
            Some(base) => amf0::with_entry(base, KEY, value)?,
            None => amf0::on_metadata(&[(KEY, value)]),
        };
        let tag = tag::tag(TagType::Script, timestamp_ms, &body).ok()?;
        Some(Update {
            tag,
            timecode,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::wire::FrameData;

    fn avc_config() -> Vec<u8> {
        // Keyframe, AVC, sequence header, cts 0, then avcC (version, profile, compat, level, 0xff).
        vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1]
    }

    /// An AVC picture tag body: an SEI carrying `data` (when given) and a slice, 4-byte lengths.
    fn avc_picture(cts: i32, data: Option<&FrameData>) -> Vec<u8> {
        let mut body = vec![0x27, 1];
        body.extend_from_slice(&cts.to_be_bytes()[1..]);
        if let Some(d) = data {
            let payload = d.encode();
            body.extend(crate::meta::sei::sei_unit(
                Codec::H264,
                Framing::Length(4),
                &[(&crate::meta::wire::UUID, &payload)],
            ));
        }
        let slice = [0x41, 0x9a, 0x00, 0x11];
        body.extend_from_slice(&(slice.len() as u32).to_be_bytes());
        body.extend_from_slice(&slice);
        body
    }

    fn flvmux_header(fps: f64) -> Vec<u8> {
        let mut out = tag::file_header(true, true).to_vec();
        let meta = amf0::on_metadata(&[
            ("width", Value::Number(1280.0)),
            ("framerate", Value::Number(fps)),
        ]);
        out.extend(tag::tag(TagType::Script, 0, &meta).unwrap());
        out.extend(tag::tag(TagType::Video, 0, &avc_config()).unwrap());
        out
    }

    fn timecode_of(update: &Update) -> (Vec<(String, Value)>, u32) {
        let t = tag::tags(&update.tag);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TagType::Script as u8);
        (
            amf0::read_on_metadata(t[0].body).unwrap(),
            t[0].timestamp_ms,
        )
    }

    #[test]
    fn derived_timecodes_count_frames_of_the_nominal_rate() {
        let tc = |ms, fps| derived(ms, fps).to_string();
        assert_eq!(tc(0, 30.0), "00:00:00:00");
        assert_eq!(tc(1_033, 30.0), "00:00:01:01");
        assert_eq!(tc(3_723_480, 25.0), "01:02:03:12");
        assert_eq!(tc(967, 29.97), "00:00:00:29");
        assert_eq!(
            tc(1_001, 29.97),
            "00:00:01:00",
            "frame 30 of a 30-frame second"
        );
        assert_eq!(
            tc(24 * 3_600_000 + 40, 25.0),
            "00:00:00:01",
            "wraps at 24 h"
        );
        assert_eq!(tc(-5, 0.0), "00:00:00:00");
    }

    #[test]
    fn each_picture_gets_the_muxers_metadata_with_its_timecode() {
        let mut s = Stamper::new(1);
        assert_eq!(s.tags(&flvmux_header(25.0)), None, "no picture yet");
        let pic = tag::tag(TagType::Video, 1_000, &avc_picture(40, None)).unwrap();
        let u = s.tags(&pic).expect("an update for the picture");
        assert_eq!(u.source, Source::Derived);
        let (entries, ts) = timecode_of(&u);
        assert_eq!(ts, 1_000, "on the picture's timestamp");
        assert_eq!(entries[0], ("width".into(), Value::Number(1280.0)));
        assert_eq!(
            entries[2],
            (KEY.into(), Value::String("00:00:01:01".into())),
            "1040 ms at 25 fps"
        );
    }

    #[test]
    fn the_pictures_own_timecode_wins() {
        let mut s = Stamper::new(1);
        s.tags(&flvmux_header(30.0));
        let data = FrameData {
            frame: Some(7),
            timecode: Some(Timecode {
                hours: 10,
                minutes: 20,
                seconds: 30,
                frames: 12,
                drop_frame: true,
            }),
            ..FrameData::default()
        };
        let pic = tag::tag(TagType::Video, 33, &avc_picture(0, Some(&data))).unwrap();
        let u = s.tags(&pic).unwrap();
        assert_eq!(u.source, Source::Carried);
        assert_eq!(u.timecode.to_string(), "10:20:30;12");
        assert_eq!(timecode_of(&u).0[2].1, Value::String("10:20:30;12".into()));
    }

    #[test]
    fn interval_and_off() {
        let pic = |ts| tag::tag(TagType::Video, ts, &avc_picture(0, None)).unwrap();
        let mut every_third = Stamper::new(3);
        every_third.tags(&flvmux_header(30.0));
        let sent: Vec<bool> = (0..7)
            .map(|i| every_third.tags(&pic(i * 33)).is_some())
            .collect();
        assert_eq!(sent, [true, false, false, true, false, false, true]);
        let mut off = Stamper::new(0);
        off.tags(&flvmux_header(30.0));
        assert!((0..5).all(|i| off.tags(&pic(i)).is_none()));
    }

    #[test]
    fn without_the_muxers_metadata_the_update_holds_the_timecode_alone() {
        let mut s = Stamper::new(1);
        let pic = tag::tag(TagType::Video, 2_000, &avc_picture(0, None)).unwrap();
        let (entries, _) = timecode_of(&s.tags(&pic).unwrap());
        assert_eq!(
            entries,
            [(KEY.to_string(), Value::String("00:00:02:00".into()))]
        );
    }
}
