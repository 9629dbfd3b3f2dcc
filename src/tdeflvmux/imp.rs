use crate::flv::audio::AudioCodec;
use crate::flv::muxer::{AudioConfig, Frame, Muxer, Tag, VideoConfig};
use crate::flv::video::VideoCodec;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};
use tdstream_common::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdeflvmux",
        gst::DebugColorFlags::empty(),
        Some("tdstream enhanced FLV muxer"),
    )
});

#[derive(Default)]
struct State {
    muxer: Option<Muxer>,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    caps_set: bool,
    last_ms: u32,
    finished: bool,
}

const DEFAULT_REPEAT_SEQUENCE_START: bool = true;

pub struct TdEflvMux {
    state: Mutex<State>,
    repeat_sequence_start: Mutex<bool>,
}

impl Default for TdEflvMux {
    fn default() -> Self {
        TdEflvMux {
            state: Mutex::default(),
            repeat_sequence_start: Mutex::new(DEFAULT_REPEAT_SEQUENCE_START),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TdEflvMux {
    const NAME: &'static str = "TdEflvMux";
    type Type = super::TdEflvMux;
    type ParentType = gst_base::Aggregator;
}

impl ObjectImpl for TdEflvMux {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecBoolean::builder("repeat-sequence-start")
                .nick("Repeat Sequence Start")
                .blurb(
                    "Send the video sequence start (hvcC/av1C/avcC) again before every keyframe, so that \
                     players joining through a relay that keeps only legacy H.264/AAC headers (nginx-rtmp) \
                     decode from the next keyframe (about 100 bytes per keyframe); off = once, as FFmpeg \
                     writes files",
                )
                .default_value(DEFAULT_REPEAT_SEQUENCE_START)
                .mutable_ready()
                .build()]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "repeat-sequence-start" {
            if let Ok(v) = value.get::<bool>() {
                *lock(&self.repeat_sequence_start) = v;
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "repeat-sequence-start" => lock(&self.repeat_sequence_start).to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}
impl GstObjectImpl for TdEflvMux {}

impl ElementImpl for TdEflvMux {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "tdstream enhanced FLV muxer",
                "Codec/Muxer",
                "Muxes H.265 (hvc1), AV1 (av01) or H.264 (avc1) video with a FourCC as Enhanced RTMP \
                 specifies, and AAC or MP3 audio as legacy FLV, into FLV tags (one per buffer) for \
                 rtmp2sink or a .flv file (read by FFmpeg 6.1+, OBS, YouTube, Twitch). For GStreamer \
                 before 1.28, which has no eflvmux. Streams start at the first video keyframe; the \
                 sequence end is written at end of stream",
                "tdstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let video = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("video/x-h265")
                        .field("stream-format", "hvc1")
                        .field("alignment", "au")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("video/x-av1")
                        .field("stream-format", "obu-stream")
                        .field("alignment", "tu")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("video/x-h264")
                        .field("stream-format", "avc")
                        .field("alignment", "au")
                        .build(),
                )
                .build();
            let audio = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("audio/mpeg")
                        .field("mpegversion", gst::List::new([2i32, 4]))
                        .field("stream-format", "raw")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("audio/mpeg")
                        .field("mpegversion", 1i32)
                        .field("layer", 3i32)
                        .build(),
                )
                .build();
            let pad = |name: &str, caps: &gst::Caps| {
                gst::PadTemplate::with_gtype(
                    name,
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    caps,
                    gst_base::AggregatorPad::static_type(),
                )
            };
            [
                gst::PadTemplate::with_gtype(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::builder("video/x-flv").build(),
                    gst_base::AggregatorPad::static_type(),
                ),
                pad("video", &video),
                pad("audio", &audio),
            ]
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default()
        });
        TEMPLATES.as_ref()
    }
}

/// The `codec_data` buffer of caps (avcC / hvcC / AudioSpecificConfig), if any.
fn codec_data(s: &gst::StructureRef) -> Option<Vec<u8>> {
    s.get::<gst::Buffer>("codec_data")
        .ok()
        .and_then(|b| b.map_readable().ok().map(|m| m.to_vec()))
}

fn video_config(caps: &gst::CapsRef) -> Result<VideoConfig, String> {
    let s = caps.structure(0).ok_or("empty caps")?;
    let codec = match s.name().as_str() {
        "video/x-h265" => VideoCodec::Hevc,
        "video/x-av1" => VideoCodec::Av1,
        "video/x-h264" => VideoCodec::Avc,
        other => return Err(format!("unsupported video caps {other}")),
    };
    let config = codec_data(s);
    let framerate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f64::from(f.numer()) / f64::from(f.denom()));
    let dim = |name: &str| s.get::<i32>(name).ok().and_then(|v| u32::try_from(v).ok());
    Ok(VideoConfig {
        codec,
        config,
        width: dim("width").unwrap_or(0),
        height: dim("height").unwrap_or(0),
        framerate,
    })
}

fn audio_config(caps: &gst::CapsRef) -> Result<AudioConfig, String> {
    let s = caps.structure(0).ok_or("empty caps")?;
    let version = s.get::<i32>("mpegversion").unwrap_or(0);
    let codec = if version == 1 {
        AudioCodec::Mp3
    } else {
        // Without codec_data the muxer reports the missing AudioSpecificConfig on the first frame.
        AudioCodec::Aac {
            config: codec_data(s).unwrap_or_default(),
        }
    };
    let positive = |name: &str| s.get::<i32>(name).ok().and_then(|v| u32::try_from(v).ok());
    Ok(AudioConfig {
        codec,
        rate: positive("rate").unwrap_or(44100),
        channels: positive("channels").unwrap_or(2),
    })
}

/// Running time in signed nanoseconds of a buffer timestamp on `pad`.
fn running_time(pad: &gst_base::AggregatorPad, ts: Option<gst::ClockTime>) -> Option<i64> {
    let ts = ts?;
    let segment = pad.segment();
    let segment = segment.downcast_ref::<gst::ClockTime>()?;
    let rt = segment.to_running_time_full(ts)?;
    let ns = i64::try_from(rt.abs().nseconds()).ok()?;
    Some(if rt.is_positive() { ns } else { -ns })
}

impl TdEflvMux {
    fn pad(&self, name: &str) -> Option<gst_base::AggregatorPad> {
        self.obj()
            .static_pad(name)
            .and_then(|p| p.downcast::<gst_base::AggregatorPad>().ok())
    }

    fn mux_error(&self, text: &str) -> gst::FlowError {
        gst::element_imp_error!(self, gst::StreamError::Mux, ("tdeflvmux: {}", text));
        gst::FlowError::Error
    }

    fn push_tags(
        &self,
        tags: Vec<Tag>,
        time: Option<i64>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if tags.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let first = {
            let mut state = lock(&self.state);
            let first = !state.caps_set;
            state.caps_set = true;
            if let Some(t) = tags.last() {
                state.last_ms = t.timestamp_ms;
            }
            first
        };
        if first {
            self.obj()
                .set_src_caps(&gst::Caps::builder("video/x-flv").build());
        }
        let pts = time.map(|t| gst::ClockTime::from_nseconds(t.max(0) as u64));
        let mut list = gst::BufferList::new_sized(tags.len());
        {
            let list = list.get_mut().ok_or(gst::FlowError::Error)?;
            for t in tags {
                let mut buffer = gst::Buffer::from_mut_slice(t.bytes);
                {
                    let b = buffer.get_mut().ok_or(gst::FlowError::Error)?;
                    b.set_pts(pts);
                    b.set_dts(pts);
                    if t.header {
                        b.set_flags(gst::BufferFlags::HEADER);
                    }
                    if t.delta {
                        b.set_flags(gst::BufferFlags::DELTA_UNIT);
                    }
                }
                list.add(buffer);
            }
        }
        self.obj().finish_buffer_list(list)
    }

    /// The pad whose next buffer comes first in running time. Waits (`AGGREGATOR_FLOW_NEED_DATA`) while
    /// a pad that is not at its end has nothing queued, unless the live deadline passed (`timeout`);
    /// `None` when no pad has anything.
    fn next_pad(
        &self,
        timeout: bool,
    ) -> Result<Option<(gst_base::AggregatorPad, gst::Buffer)>, gst::FlowError> {
        let mut best: Option<(i64, gst_base::AggregatorPad, gst::Buffer)> = None;
        for name in ["video", "audio"] {
            let Some(pad) = self.pad(name) else { continue };
            match pad.peek_buffer() {
                Some(buffer) => {
                    let t = running_time(&pad, buffer.dts_or_pts()).unwrap_or(i64::MIN);
                    if best.as_ref().is_none_or(|(bt, _, _)| t < *bt) {
                        best = Some((t, pad, buffer));
                    }
                }
                None if pad.is_eos() => {}
                None if !timeout => return Err(gst_base::AGGREGATOR_FLOW_NEED_DATA),
                None => {}
            }
        }
        Ok(best.map(|(_, pad, buffer)| (pad, buffer)))
    }
}

impl AggregatorImpl for TdEflvMux {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn create_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _req_name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst_base::AggregatorPad> {
        let name = templ.name_template();
        if self.obj().static_pad(name).is_some() {
            gst::warning!(
                CAT,
                imp = self,
                "tdeflvmux has one {name} pad; it exists already"
            );
            return None;
        }
        Some(
            gst::PadBuilder::<gst_base::AggregatorPad>::from_template(templ)
                .name(name.to_string())
                .build(),
        )
    }

    fn sink_event(&self, pad: &gst_base::AggregatorPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(c) = event.view() {
            let caps = c.caps();
            let result = if pad.name() == "video" {
                video_config(caps).map(|v| {
                    let mut state = lock(&self.state);
                    if let Some(m) = state.muxer.as_mut() {
                        m.set_video(v.clone());
                    }
                    state.video = Some(v);
                })
            } else {
                audio_config(caps).map(|a| {
                    let mut state = lock(&self.state);
                    if let Some(m) = state.muxer.as_mut() {
                        m.set_audio(a.clone());
                    }
                    state.audio = Some(a);
                })
            };
            if let Err(e) = result {
                gst::element_imp_error!(self, gst::StreamError::Format, ("tdeflvmux: {}", e));
                return false;
            }
        }
        self.parent_sink_event(pad, event)
    }

    fn aggregate(&self, timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some((pad, buffer)) = self.next_pad(timeout)? else {
            let all_eos = ["video", "audio"]
                .iter()
                .filter_map(|n| self.pad(n))
                .all(|p| p.is_eos());
            if !all_eos {
                return Ok(gst::FlowSuccess::Ok);
            }
            let tags = {
                let mut state = lock(&self.state);
                if state.finished {
                    Vec::new()
                } else {
                    state.finished = true;
                    let last = state.last_ms;
                    state
                        .muxer
                        .as_mut()
                        .map(|m| m.finish(last))
                        .unwrap_or_default()
                }
            };
            self.push_tags(tags, None)?;
            return Err(gst::FlowError::Eos);
        };
        pad.drop_buffer();
        let video = pad.name() == "video";
        let pts = running_time(&pad, buffer.pts());
        let dts = running_time(&pad, buffer.dts());
        let map = buffer
            .map_readable()
            .map_err(|_| self.mux_error("cannot read a buffer"))?;
        let frame = Frame {
            pts,
            dts,
            key: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
            data: map.as_slice(),
        };
        let result = {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            if state.muxer.is_none() {
                let mut muxer = Muxer::new(state.video.clone(), state.audio.clone());
                muxer.repeat_sequence_start(*lock(&self.repeat_sequence_start));
                state.muxer = Some(muxer);
            }
            let muxer = state.muxer.as_mut().ok_or(gst::FlowError::Error)?;
            if video {
                muxer.push_video(&frame)
            } else {
                muxer.push_audio(&frame)
            }
        };
        let tags = result.map_err(|e| self.mux_error(&e.to_string()))?;
        gst::trace!(
            CAT,
            imp = self,
            "{} buffer → {} tags",
            pad.name(),
            tags.len()
        );
        self.push_tags(tags, dts.or(pts))
    }
}
