//! SRT: `mpegtsmux alignment=7 ! srtsink` with every option of the URL query on the sink.

use gst::prelude::*;

use super::{ghost_mux_pad, link_chain, make, set_enum, video_caps, Transport, TransportError};
use crate::nvencstreamsink::plan::Plan;
use crate::url::{SrtMode, SrtTarget};

pub fn build(
    plan: &Plan,
    target: &SrtTarget,
    with_audio: bool,
) -> Result<Transport, TransportError> {
    let bin = gst::Bin::with_name("srt-transport");
    let mux = make("mpegtsmux", "mpegtsmux", "mode=srt (MPEG-TS muxing)")?;
    // Seven TS packets per buffer: one SRT/UDP payload of 1316 bytes.
    mux.set_property("alignment", 7i32);
    if plan.mux_rate > 0 && mux.find_property("bitrate").is_some() {
        mux.set_property("bitrate", plan.mux_rate);
    }
    let sink = make("srtsink", "srtsink", "mode=srt (SRT transport)")?;
    sink.set_property("uri", target.sink_uri());
    set_enum(&sink, "mode", target.mode.nick())?;
    if target.mode == SrtMode::Listener {
        // Never block the pipeline while no caller is connected: drop instead.
        sink.set_property("wait-for-connection", false);
    }
    if let Some(l) = target.latency {
        sink.set_property("latency", l.min(i32::MAX as u32) as i32);
    }
    if let Some(p) = &target.passphrase {
        sink.set_property("passphrase", p);
    }
    if let Some(k) = target.pbkeylen {
        set_enum(&sink, "pbkeylen", &k.to_string())?;
    }
    if let Some(id) = &target.streamid {
        sink.set_property("streamid", id);
    }
    if let Some(a) = &target.localaddress {
        sink.set_property("localaddress", a);
    }
    if let Some(p) = target.localport {
        sink.set_property("localport", p as u32);
    }
    if let Some(t) = target.poll_timeout {
        sink.set_property("poll-timeout", t);
    }
    bin.add_many([&mux, &sink])
        .map_err(|e| TransportError::Link(e.to_string()))?;
    link_chain(&[&mux, &sink])?;
    ghost_mux_pad(&bin, &mux, "sink_%d", "video")?;
    if with_audio {
        ghost_mux_pad(&bin, &mux, "sink_%d", "audio")?;
    }
    Ok(Transport {
        bin,
        network_sink: sink,
        video_caps: video_caps(plan.encoder.codec, Some("byte-stream")),
    })
}
