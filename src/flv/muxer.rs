//! Access units in, FLV tags out: the header, `onMetaData`, the sequence starts, the frames with
//! millisecond timestamps from the first DTS, and the sequence end.

use super::amf0::{self, Value};
use super::audio::{self, AudioCodec};
use super::av1c::{self, Av1cError};
use super::tag::{self, TagType, TooLarge};
use super::video::{self, VideoCodec};

/// The video stream as the caps describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    pub codec: VideoCodec,
    /// avcC / hvcC (`codec_data`); for AV1 it may be absent: it is then built from the first keyframe's
    /// sequence header.
    pub config: Option<Vec<u8>>,
    pub width: u32,
    pub height: u32,
    /// Frames per second, when the caps give one.
    pub framerate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    pub codec: AudioCodec,
    pub rate: u32,
    pub channels: u32,
}

/// One access unit, timestamps in nanoseconds of running time (may be negative before the start).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub key: bool,
    pub data: &'a [u8],
}

/// One FLV tag (or the file header) ready to be pushed as one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub bytes: Vec<u8>,
    /// The file header, `onMetaData` and sequence starts: a new reader needs them first.
    pub header: bool,
    /// A video frame that is not a keyframe.
    pub delta: bool,
    pub timestamp_ms: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MuxError {
    #[error("{0} video arrived without codec_data (its decoder configuration record); put the codec's parser (h264parse, h265parse) before the muxer")]
    NoConfig(&'static str),
    #[error("the audio arrived without codec_data (AAC AudioSpecificConfig); put aacparse before the muxer")]
    NoAudioConfig,
    #[error("AV1: {0}")]
    Av1(#[from] Av1cError),
    #[error("{0}")]
    TooLarge(#[from] TooLarge),
    #[error("a buffer without a timestamp: FLV needs one on every frame")]
    NoTimestamp,
    #[error("no such track configured")]
    NoTrack,
}

/// The name tdstream writes as `encoder` in `onMetaData`.
pub const ENCODER_NAME: &str = "tdstream tdeflvmux";

#[derive(Debug)]
pub struct Muxer {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// The first timestamp seen: FLV time 0.
    base: Option<i64>,
    header_sent: bool,
    /// The configuration record last sent for video.
    video_config_sent: Option<Vec<u8>>,
    audio_config_sent: bool,
    /// Frames dropped because no keyframe had been seen yet.
    pub dropped_before_keyframe: u64,
    /// Send the video sequence start again before every keyframe (see [`Muxer::repeat_sequence_start`]).
    repeat_sequence_start: bool,
}

fn round_ms(ns: i64) -> i64 {
    (ns + 500_000).div_euclid(1_000_000)
}

impl Muxer {
    pub fn new(video: Option<VideoConfig>, audio: Option<AudioConfig>) -> Self {
        Muxer {
            video,
            audio,
            base: None,
            header_sent: false,
            video_config_sent: None,
            audio_config_sent: false,
            dropped_before_keyframe: 0,
            repeat_sequence_start: false,
        }
    }

    /// Repeats the video sequence start before every keyframe. Relays that keep only H.264/AAC
    /// sequence headers for players that join later (nginx-rtmp) forward it, so those players can decode
    /// from the next keyframe; without it they never get the hvcC/av1C. Costs the record's size
    /// (about 100 bytes) per keyframe.
    pub fn repeat_sequence_start(&mut self, on: bool) {
        self.repeat_sequence_start = on;
    }

    /// New video caps: a changed configuration record is sent again before the next frame.
    pub fn set_video(&mut self, video: VideoConfig) {
        self.video = Some(video);
    }

    pub fn set_audio(&mut self, audio: AudioConfig) {
        if self.audio.as_ref() != Some(&audio) {
            self.audio_config_sent = false;
        }
        self.audio = Some(audio);
    }

    fn metadata(&self) -> Vec<u8> {
        let mut entries: Vec<(&str, Value)> = Vec::new();
        if let Some(v) = &self.video {
            entries.push(("width", Value::Number(f64::from(v.width))));
            entries.push(("height", Value::Number(f64::from(v.height))));
            if let Some(fps) = v.framerate {
                entries.push(("framerate", Value::Number(fps)));
            }
            entries.push((
                "videocodecid",
                Value::Number(amf0::fourcc_number(v.codec.fourcc())),
            ));
        }
        if let Some(a) = &self.audio {
            entries.push(("audiocodecid", Value::Number(audio::codec_id(&a.codec))));
            entries.push(("audiosamplerate", Value::Number(f64::from(a.rate))));
            entries.push(("audiosamplesize", Value::Number(16.0)));
            entries.push(("stereo", Value::Bool(a.channels > 1)));
        }
        entries.push(("encoder", Value::String(ENCODER_NAME.into())));
        amf0::on_metadata(&entries)
    }

    fn header_tags(&mut self, out: &mut Vec<Tag>) -> Result<(), MuxError> {
        if self.header_sent {
            return Ok(());
        }
        out.push(Tag {
            bytes: tag::file_header(self.audio.is_some(), self.video.is_some()).to_vec(),
            header: true,
            delta: false,
            timestamp_ms: 0,
        });
        out.push(Tag {
            bytes: tag::tag(TagType::Script, 0, &self.metadata())?,
            header: true,
            delta: false,
            timestamp_ms: 0,
        });
        self.header_sent = true;
        Ok(())
    }

    /// FLV time of `ns` (milliseconds since the first timestamp; earlier ones are 0).
    fn ms(&mut self, ns: i64) -> i64 {
        let base = *self.base.get_or_insert(ns);
        round_ms(ns - base).max(0)
    }

    /// The tags for one video access unit (none before the first keyframe).
    pub fn push_video(&mut self, frame: &Frame) -> Result<Vec<Tag>, MuxError> {
        let v = self.video.as_ref().ok_or(MuxError::NoTrack)?;
        let codec = v.codec;
        let mut out = Vec::new();
        // The configuration record this frame needs: from the caps, or (AV1) from a keyframe.
        let config = match (&v.config, codec, frame.key) {
            (Some(c), _, _) => Some(c.clone()),
            (None, VideoCodec::Av1, true) => match av1c::from_temporal_unit(frame.data) {
                Ok(c) => Some(c),
                // A keyframe without a sequence header keeps the one sent before.
                Err(Av1cError::NoSequenceHeader) if self.video_config_sent.is_some() => {
                    self.video_config_sent.clone()
                }
                Err(e) => return Err(e.into()),
            },
            (None, VideoCodec::Av1, false) => None,
            (None, c, _) => return Err(MuxError::NoConfig(c.name())),
        };
        let dts = frame.dts.or(frame.pts).ok_or(MuxError::NoTimestamp)?;
        if self.video_config_sent.is_none() && !frame.key {
            self.dropped_before_keyframe += 1;
            return Ok(out);
        }
        let dts_ms = self.ms(dts);
        let pts_ms = frame.pts.map_or(dts_ms, |p| self.ms(p));
        self.header_tags(&mut out)?;
        if let Some(c) = config {
            let changed = self.video_config_sent.as_ref() != Some(&c);
            if changed || (frame.key && self.repeat_sequence_start) {
                out.push(Tag {
                    bytes: tag::tag(
                        TagType::Video,
                        dts_ms as u32,
                        &video::sequence_start(codec, &c),
                    )?,
                    // The first (or a changed) one is a stream header; repeats are not.
                    header: changed,
                    delta: false,
                    timestamp_ms: dts_ms as u32,
                });
                self.video_config_sent = Some(c);
            }
        }
        let ct = i32::try_from(pts_ms - dts_ms).unwrap_or(0);
        out.push(Tag {
            bytes: tag::tag(
                TagType::Video,
                dts_ms as u32,
                &video::coded_frame(codec, frame.key, ct, frame.data),
            )?,
            header: false,
            delta: !frame.key,
            timestamp_ms: dts_ms as u32,
        });
        Ok(out)
    }

    /// The tags for one audio frame.
    pub fn push_audio(&mut self, frame: &Frame) -> Result<Vec<Tag>, MuxError> {
        let a = self.audio.clone().ok_or(MuxError::NoTrack)?;
        if let AudioCodec::Aac { config } = &a.codec {
            if config.is_empty() {
                return Err(MuxError::NoAudioConfig);
            }
        }
        let ts = frame.dts.or(frame.pts).ok_or(MuxError::NoTimestamp)?;
        let ms = self.ms(ts) as u32;
        let mut out = Vec::new();
        self.header_tags(&mut out)?;
        if !self.audio_config_sent {
            if let Some(body) = audio::sequence_start(&a.codec, a.rate, a.channels) {
                out.push(Tag {
                    bytes: tag::tag(TagType::Audio, ms, &body)?,
                    header: true,
                    delta: false,
                    timestamp_ms: ms,
                });
            }
            self.audio_config_sent = true;
        }
        out.push(Tag {
            bytes: tag::tag(
                TagType::Audio,
                ms,
                &audio::frame(&a.codec, a.rate, a.channels, frame.data),
            )?,
            header: false,
            delta: false,
            timestamp_ms: ms,
        });
        Ok(out)
    }

    /// At the end of the stream: the video sequence end, if a sequence was started.
    pub fn finish(&mut self, last_ms: u32) -> Vec<Tag> {
        match (&self.video, &self.video_config_sent) {
            (Some(v), Some(_)) => tag::tag(TagType::Video, last_ms, &video::sequence_end(v.codec))
                .map(|bytes| {
                    vec![Tag {
                        bytes,
                        header: false,
                        delta: false,
                        timestamp_ms: last_ms,
                    }]
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hevc() -> VideoConfig {
        VideoConfig {
            codec: VideoCodec::Hevc,
            config: Some(vec![1, 2, 3]),
            width: 640,
            height: 360,
            framerate: Some(30.0),
        }
    }

    fn frame(pts_ms: i64, dts_ms: i64, key: bool) -> Frame<'static> {
        Frame {
            pts: Some(pts_ms * 1_000_000),
            dts: Some(dts_ms * 1_000_000),
            key,
            data: &[0, 0, 0, 1, 0x26],
        }
    }

    #[test]
    fn frames_before_the_first_keyframe_are_dropped() {
        let mut m = Muxer::new(Some(hevc()), None);
        assert!(m.push_video(&frame(0, 0, false)).unwrap().is_empty());
        let tags = m.push_video(&frame(33, 33, true)).unwrap();
        // header, onMetaData, sequence start, frame
        assert_eq!(tags.len(), 4);
        assert!(tags[..3].iter().all(|t| t.header));
        assert_eq!(tags[3].timestamp_ms, 0);
        assert_eq!(m.dropped_before_keyframe, 1);
    }

    #[test]
    fn timestamps_from_the_first_dts_with_composition_time() {
        let mut m = Muxer::new(Some(hevc()), None);
        m.push_video(&frame(1080, 1000, true)).unwrap();
        let t = m.push_video(&frame(1160, 1040, false)).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].timestamp_ms, 40);
        assert!(t[0].delta);
        // ExVideoTagHeader (CodedFrames, inter), FourCC, SI24 composition time 120.
        assert_eq!(
            &t[0].bytes[11..19],
            &[0xA1, b'h', b'v', b'c', b'1', 0, 0, 120]
        );
    }

    #[test]
    fn codec_data_change_sends_a_new_sequence_start() {
        let mut m = Muxer::new(Some(hevc()), None);
        m.push_video(&frame(0, 0, true)).unwrap();
        assert_eq!(m.push_video(&frame(40, 40, true)).unwrap().len(), 1);
        let mut v = hevc();
        v.config = Some(vec![9]);
        m.set_video(v);
        let t = m.push_video(&frame(80, 80, true)).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t[0].header);
    }

    #[test]
    fn repeated_sequence_start_before_keyframes_only() {
        let mut m = Muxer::new(Some(hevc()), None);
        m.repeat_sequence_start(true);
        assert_eq!(m.push_video(&frame(0, 0, true)).unwrap().len(), 4);
        assert_eq!(m.push_video(&frame(40, 40, false)).unwrap().len(), 1);
        let t = m.push_video(&frame(80, 80, true)).unwrap();
        assert_eq!(t.len(), 2);
        assert!(!t[0].header);
        assert_eq!(&t[0].bytes[11..16], &[0x90, b'h', b'v', b'c', b'1']);
    }

    #[test]
    fn hevc_without_codec_data_is_an_error() {
        let mut v = hevc();
        v.config = None;
        let mut m = Muxer::new(Some(v), None);
        let e = m.push_video(&frame(0, 0, true)).unwrap_err();
        assert!(e.to_string().contains("h265parse"), "{e}");
    }

    #[test]
    fn audio_and_metadata() {
        let aac = AudioConfig {
            codec: AudioCodec::Aac {
                config: vec![0x12, 0x10],
            },
            rate: 44100,
            channels: 2,
        };
        let mut m = Muxer::new(Some(hevc()), Some(aac));
        let t = m.push_audio(&frame(0, 0, true)).unwrap();
        // header (audio+video), onMetaData, AAC sequence header, frame
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].bytes[4], 5);
        let meta = &t[1].bytes;
        let needle = b"\x0caudiocodecid\x00\x40\x24";
        assert!(meta.windows(needle.len()).any(|w| w == needle));
        assert_eq!(&t[2].bytes[11..13], &[0xAF, 0]);
        assert_eq!(&t[3].bytes[11..13], &[0xAF, 1]);
        // An audio frame before the video's first keyframe sets time 0.
        let v = m.push_video(&frame(20, 20, true)).unwrap();
        assert_eq!(v.last().unwrap().timestamp_ms, 20);
    }

    #[test]
    fn sequence_end_only_after_a_sequence() {
        let mut m = Muxer::new(Some(hevc()), None);
        assert!(m.finish(0).is_empty());
        m.push_video(&frame(0, 0, true)).unwrap();
        let end = m.finish(40);
        assert_eq!(&end[0].bytes[11..16], &[0x92, b'h', b'v', b'c', b'1']);
    }

    #[test]
    fn rounding_to_the_nearest_millisecond() {
        let mut m = Muxer::new(Some(hevc()), None);
        let f = |ns: i64| Frame {
            pts: Some(ns),
            dts: Some(ns),
            key: true,
            data: &[1],
        };
        m.push_video(&f(0)).unwrap();
        assert_eq!(m.push_video(&f(66_666_667)).unwrap()[0].timestamp_ms, 67);
    }
}
