//! The RTSP server: the pure helpers shared with the main plugin (names, URLs, payloaders,
//! credentials, keyframe rate limiting; `src/rtsp.rs`), the process-wide server registry in
//! [`registry`], the shared-media feeder in [`feeder`].

#[path = "../../../src/rtsp.rs"]
mod names;

pub use names::*;

pub mod feeder;
pub mod prepared;
pub mod registry;
pub mod rtcp;
