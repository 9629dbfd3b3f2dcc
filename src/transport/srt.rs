//! SRT: `mpegtsmux alignment=7 ! srtsink` with every option of the URL query on the sink.

use gst::prelude::*;
use std::time::Duration;

use super::link::{Inner, Link, Probe};
use super::{ghost_mux_pad, link_chain, make, set_enum, video_caps, Transport, TransportError};
use crate::nvencstreamsink::plan::Plan;
use crate::url::{SrtMode, SrtTarget};

/// libsrt's default latency, used when the URL sets none.
const DEFAULT_LATENCY_MS: u32 = 120;
const MAX_LINGER: Duration = Duration::from_secs(2);
/// What the caller buffers while it connects.
const CONNECT_BUFFER: Duration = Duration::from_secs(1);

/// In live mode libsrt drops what is still in its send buffer when the socket closes (SRTO_LINGER is
/// 0), and srtsink closes as soon as the pipeline stops after EOS: the last frames were lost (3 of
/// 300 in our round-trip test). Hold EOS at the sink long enough for the tail to be sent and, if
/// needed, retransmitted: twice the latency plus 200 ms, at most 2 s.
fn linger_on_eos(sink: &gst::Element, latency_ms: u32) {
    let linger = Duration::from_millis(2 * latency_ms as u64 + 200).min(MAX_LINGER);
    if let Some(pad) = sink.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data {
                if e.type_() == gst::EventType::Eos {
                    std::thread::sleep(linger);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
}

pub fn build(
    plan: &Plan,
    target: &SrtTarget,
    with_audio: bool,
) -> Result<Transport, TransportError> {
    let video_caps = video_caps(plan.encoder.codec, Some("byte-stream"));
    if target.mode == SrtMode::Listener {
        // The listener stays open for the whole run; srtsink takes callers as they come and go.
        let inner = build_inner(plan, target, with_audio, "srt-transport")?;
        return Ok(Transport {
            bin: inner.bin,
            network_sink: Some(inner.network_sink),
            link: None,
            video_caps,
        });
    }
    let (plan_c, target_c) = (plan.clone(), target.clone());
    let link = Link::new(
        "srt-transport",
        with_audio,
        Probe::Srt,
        Box::new(move || build_inner(&plan_c, &target_c, with_audio, "srt-connection")),
    )?;
    Ok(Transport::of_link(link, video_caps))
}

fn build_inner(
    plan: &Plan,
    target: &SrtTarget,
    with_audio: bool,
    name: &str,
) -> Result<Inner, TransportError> {
    let bin = gst::Bin::with_name(name);
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
    } else {
        // nvencstreamsink reconnects by itself (reconnect-attempts): srtsink's own reconnection would
        // block the pipeline while the listener is away.
        if sink.find_property("auto-reconnect").is_some() {
            sink.set_property("auto-reconnect", false);
        }
        sink.set_property("async", false);
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
    linger_on_eos(&sink, target.latency.unwrap_or(DEFAULT_LATENCY_MS));
    let mut chain = vec![mux.clone()];
    let buffer = if target.mode == SrtMode::Listener {
        None
    } else {
        // srtsink waits for the handshake before it writes: a small buffer that drops the oldest data
        // keeps the pipeline going meanwhile (the link resumes at a keyframe once connected).
        let queue = make("queue", "srt-buffer", "mode=srt")?;
        queue.set_property("max-size-time", CONNECT_BUFFER.as_nanos() as u64);
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-bytes", 0u32);
        set_enum(&queue, "leaky", "downstream")?;
        chain.push(queue.clone());
        Some(queue)
    };
    chain.push(sink.clone());
    bin.add_many(&chain)
        .map_err(|e| TransportError::Link(e.to_string()))?;
    link_chain(&chain.iter().collect::<Vec<_>>())?;
    ghost_mux_pad(&bin, &mux, "sink_%d", "video")?;
    if with_audio {
        ghost_mux_pad(&bin, &mux, "sink_%d", "audio")?;
    }
    Ok(Inner {
        connected: None,
        bin,
        network_sink: sink,
        buffer,
    })
}
