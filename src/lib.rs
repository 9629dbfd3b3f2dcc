//! # tdstream
//!
//! TouchDesigner's *Video Stream Out TOP* for GStreamer: encode on NVENC (software where there is none)
//! and stream over RTMP, SRT, RTSP, WebRTC or WHIP, with clear errors and no secrets in logs.
//!
//! Elements:
//! - `nvencstreamsink`: the all-in-one encode-and-stream sink bin.
//! - `rtspsharedserver` lives in the companion plugin `tdstreamrtsp` (`tdstreamrtsp/`), so that a
//!   process that streams RTMP or SRT does not load gst-rtsp-server; `nvencstreamsink mode=rtsp-server`
//!   creates it by name.
//! - WebRTC and WHIP use gst-plugins-rs' `webrtcsink`/`whipclientsink`, which the companion plugin
//!   `tdstreamwebrtc` (`tdstreamwebrtc/`) registers on demand, so that only processes that stream WebRTC
//!   map its code.
//! - `tdeflvmux`: enhanced FLV (H.265/AV1 over RTMP) for GStreamer versions without `eflvmux`.
//! - `tdmetainject`, `tdmetaembed`, `tdmetaextract`: per-frame metadata (`TdFrameMeta`) attached to
//!   frames, carried in H.264/H.265 SEI through any transport, and read back.
//!
//! Pure logic lives outside the element glue: [`encoder`] (settings and per-element tables),
//! [`transport`] (one module per transport: its URL, what it carries, its failures),
//! [`destination`] (a running destination: link, gate, meter; [`destination::reconnect`] the
//! reconnection state machine, [`destination::ratecontrol`] the congestion verdicts), [`secrets`]
//! (redaction), [`plugins`] (missing-element errors). Layers import one way: element → destination →
//! transport.

use gst::glib;

pub use tdstream_common::display;
pub mod destination;
pub mod encoder;
pub mod flv;
pub mod meta;
pub mod nvencstreamsink;
pub mod plugins;
pub mod secrets;
pub mod tdeflvmux;
pub mod tdmetaembed;
pub mod tdmetaextract;
pub mod tdmetainject;
pub mod transport;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    nvencstreamsink::register(plugin)?;
    meta::frame_meta::register();
    tdmetainject::register(plugin)?;
    tdmetaembed::register(plugin)?;
    tdmetaextract::register(plugin)?;
    tdeflvmux::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    tdstream,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
