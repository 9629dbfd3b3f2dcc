//! # tdstreamwebrtc
//!
//! WebRTC support for tdstream, a plugin of its own so that a process that streams RTMP, SRT or RTSP
//! does not map the 16 MB of gst-plugins-rs' WebRTC code (about 2.6 MB more resident memory, issue #9).
//!
//! Debian 12 does not package gst-plugins-rs' `webrtcsink`, `webrtcsrc`, `whipclientsink` and
//! `whipserversrc`; this plugin carries them (crate `gst-plugin-webrtc` 0.15) without registering them
//! as its own features, which would clash with a system copy of that plugin. Its one element,
//! `tdwebrtcsupport`, registers them into the process when it is created, only if no copy is registered
//! yet: a system copy always wins. `nvencstreamsink mode=webrtc|whip` creates it by itself; in a launch
//! line, put it first to use the elements directly:
//!
//! ```text
//! gst-launch-1.0 tdwebrtcsupport webrtcsrc connect-to-first-producer=true signaller::uri=ws://127.0.0.1:8443 ! ...
//! ```

use gst::glib;

mod support;

/// Registers gst-plugins-rs' WebRTC elements into this process unless a copy is registered already.
pub fn ensure_registered() {
    support::ensure_registered()
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    support::register(plugin)
}

gst::plugin_define!(
    tdstreamwebrtc,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
