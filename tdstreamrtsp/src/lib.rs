//! # tdstreamrtsp
//!
//! tdstream's RTSP server, a plugin of its own: `rtspsharedserver` serves many named streams on one
//! port, each encoded once for all clients; `nvencstreamsink mode=rtsp-server` creates it by name. It
//! is separate from `libgsttdstream.so` so that a process that streams RTMP or SRT does not load
//! gst-rtsp-server and the libraries it links (about 0.6 MB of resident code, issue #9).
//!
//! Shared with the main plugin through the workspace crate `tdstream-common` (plain Rust, no GObject
//! types): the lock helper, the `audio` request pad, and the RTSP names and URLs.

use gst::glib;

mod rtsp;
pub mod rtspsharedserver;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    rtspsharedserver::register(plugin)
}

gst::plugin_define!(
    tdstreamrtsp,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
