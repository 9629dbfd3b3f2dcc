//! The elementary-stream chains inside `nvencstreamsink`:
//!
//! ```text
//! video: queue ! videoconvert ! [videorate ! fps caps] ! format caps ! ENCODER ! profile caps !
//!        [tdmetaembed (H.264/H.265)] ! parser ! transport caps
//! audio: [audiotestsrc wave=silence | queue] ! audioconvert ! audioresample ! rate caps ! ENCODER ! parser
//! ```

use gst::prelude::*;

use super::plan::Plan;
use super::AudioCodec;
use crate::encoder::select::{set_prop, Chosen};
use crate::encoder::PropValue;
use crate::plugins::{self, MissingElement};

pub fn capsfilter(name: &str, caps: gst::Caps) -> Result<gst::Element, MissingElement> {
    let f = plugins::make("capsfilter", name, "caps filtering")?;
    f.set_property("caps", caps);
    Ok(f)
}

/// The raw part of the video chain: `queue ! videoconvert ! [videorate ! fps caps]`.
pub fn raw_video(plan: &Plan) -> Result<Vec<gst::Element>, MissingElement> {
    let mut chain = Vec::new();
    let queue = plugins::make("queue", "video-queue", "the video input")?;
    chain.push(queue);
    chain.push(plugins::make(
        "videoconvert",
        "videoconvert",
        "video format conversion",
    )?);
    if plan.fps > 0 {
        chain.push(plugins::make("videorate", "videorate", "fps")?);
        let caps = gst::Caps::builder("video/x-raw")
            .field("framerate", gst::Fraction::new(plan.fps as i32, 1))
            .build();
        chain.push(capsfilter("fps-caps", caps)?);
    }
    Ok(chain)
}

/// The video chain, in link order; the first element takes raw video, the last gives parsed video with
/// `out_caps` (or as the parser gives it, for the tee in front of several destinations).
pub fn video(
    plan: &Plan,
    chosen: &Chosen,
    out_caps: Option<gst::Caps>,
) -> Result<Vec<gst::Element>, MissingElement> {
    let codec = plan.encoder.codec;
    let mut chain = raw_video(plan)?;
    let raw = gst::Caps::builder("video/x-raw")
        .field("format", chosen.config.input_format)
        .build();
    chain.push(capsfilter("encoder-input-caps", raw)?);
    chain.push(chosen.element.clone());
    let mut profile_caps = gst::Caps::builder(codec.media_type());
    if let Some(profile) = plan.encoder.profile.caps_name(codec) {
        profile_caps = profile_caps.field("profile", profile);
    }
    chain.push(capsfilter("profile-caps", profile_caps.build())?);
    if codec != crate::encoder::Codec::Av1 {
        // Frames that carry TdFrameMeta (tdmetainject upstream) get it written as SEI; others pass.
        let embed = gst::glib::Object::builder::<crate::tdmetaembed::TdMetaEmbed>()
            .property("name", "metadata-embed")
            .build();
        chain.push(embed.upcast());
    }
    let parser = plugins::make(codec.parser(), "video-parser", "parsing the encoded video")?;
    if parser.find_property("config-interval").is_some() {
        // SPS/PPS (and VPS) before every IDR, so receivers can join at any keyframe.
        parser.set_property("config-interval", -1i32);
    }
    chain.push(parser);
    if let Some(caps) = out_caps {
        chain.push(capsfilter("transport-video-caps", caps)?);
    }
    Ok(chain)
}

/// The branch of one destination behind the video tee: its bounded buffer (`leaky`: a destination that
/// cannot keep up drops instead of stalling the others), a parser that converts to what its transport
/// takes, and those caps.
pub fn video_branch(
    plan: &Plan,
    index: u32,
    caps: gst::Caps,
    buffer: std::time::Duration,
) -> Result<Vec<gst::Element>, MissingElement> {
    let codec = plan.encoder.codec;
    let queue = branch_queue(&format!("destination{index}-video-buffer"), buffer)?;
    let parser = plugins::make(
        codec.parser(),
        &format!("destination{index}-video-parser"),
        "parsing the encoded video",
    )?;
    if parser.find_property("config-interval").is_some() {
        parser.set_property("config-interval", -1i32);
    }
    let filter = capsfilter(&format!("destination{index}-video-caps"), caps)?;
    Ok(vec![queue, parser, filter])
}

/// A destination's bounded buffer behind a tee: it drops what arrives when full.
pub fn branch_queue(
    name: &str,
    buffer: std::time::Duration,
) -> Result<gst::Element, MissingElement> {
    let queue = plugins::make("queue", name, "a destination's buffer")?;
    queue.set_property("max-size-time", buffer.as_nanos() as u64);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-buffers", 0u32);
    let _ = plugins::set_enum(&queue, "leaky", "upstream");
    Ok(queue)
}

struct AudioEncoder {
    /// In order of preference; the last is the one named when none is installed.
    factories: &'static [&'static str],
    rate: i32,
    parser: &'static str,
}

fn audio_encoder(codec: AudioCodec) -> AudioEncoder {
    match codec {
        AudioCodec::Mp3 => AudioEncoder {
            factories: &["lamemp3enc"],
            rate: 44100,
            parser: "mpegaudioparse",
        },
        AudioCodec::Aac => AudioEncoder {
            factories: &["fdkaacenc", "avenc_aac", "voaacenc"],
            rate: 48000,
            parser: "aacparse",
        },
        AudioCodec::Opus => AudioEncoder {
            factories: &["opusenc"],
            rate: 48000,
            parser: "opusparse",
        },
    }
}

/// The start of the audio chain: its own silent source with `silent`, else a queue for the input.
pub fn audio_source(silent: bool) -> Result<gst::Element, MissingElement> {
    if silent {
        let src = plugins::make("audiotestsrc", "silent-audio", "include-silent-audio")?;
        let _ = plugins::set_enum(&src, "wave", "silence");
        src.set_property("is-live", true);
        Ok(src)
    } else {
        plugins::make("queue", "audio-queue", "the audio input")
    }
}

/// The encoding part of the audio chain for `codec`, in link order: raw audio in, parsed audio out.
/// `suffix` tells apart the element names of a second codec's chain (which starts with its own queue).
pub fn audio_encode(
    plan: &Plan,
    codec: AudioCodec,
    suffix: &str,
) -> Result<Vec<gst::Element>, MissingElement> {
    let spec = audio_encoder(codec);
    let name = |n: &str| format!("{n}{suffix}");
    let mut chain = Vec::new();
    if !suffix.is_empty() {
        chain.push(plugins::make(
            "queue",
            &name("audio-queue"),
            "the audio input",
        )?);
    }
    chain.push(plugins::make(
        "audioconvert",
        &name("audioconvert"),
        "audio conversion",
    )?);
    chain.push(plugins::make(
        "audioresample",
        &name("audioresample"),
        "audio resampling",
    )?);
    let caps = gst::Caps::builder("audio/x-raw")
        .field("rate", spec.rate)
        .field("channels", 2i32)
        .build();
    chain.push(capsfilter(&name("audio-caps"), caps)?);
    let factory = spec
        .factories
        .iter()
        .find(|f| plugins::exists(f))
        .ok_or_else(|| {
            let last = spec.factories.last().copied().unwrap_or("lamemp3enc");
            MissingElement::new(last, "the audio-codec")
        })?;
    let enc = plugins::make(factory, &name("audio-encoder"), "the audio-codec")?;
    let bitrate = plan.audio_bitrate;
    // lamemp3enc counts kbit/s, the others bit/s; set_prop converts to each property's type.
    let result = if *factory == "lamemp3enc" {
        let _ = plugins::set_enum(&enc, "target", "bitrate");
        enc.set_property("cbr", true);
        set_prop(&enc, "bitrate", &PropValue::Int((bitrate / 1000) as i64))
    } else {
        set_prop(&enc, "bitrate", &PropValue::Int(bitrate as i64))
    };
    if let Err(e) = result {
        gst::warning!(super::CAT, "audio bitrate not set: {e}");
    }
    if plan.perfect_audio_timestamps(codec) && enc.find_property("perfect-timestamp").is_some() {
        enc.set_property("perfect-timestamp", true);
    }
    chain.push(enc);
    if codec == AudioCodec::Mp3 {
        // LAME picks a lower output rate for low bitrates (32 kHz at 96 kbit/s), which FLV cannot carry.
        let caps = gst::Caps::builder("audio/mpeg")
            .field("rate", spec.rate)
            .build();
        chain.push(capsfilter(&name("mp3-caps"), caps)?);
    }
    chain.push(plugins::make(
        spec.parser,
        &name("audio-parser"),
        "parsing the encoded audio",
    )?);
    Ok(chain)
}
