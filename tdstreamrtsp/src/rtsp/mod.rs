//! The RTSP server: the pure helpers shared with the main plugin (names, URLs, payloaders,
//! credentials, keyframe rate limiting) are in `tdstream_common::rtsp`; here the process-wide server
//! registry in [`registry`], the shared-media feeder in [`feeder`].

pub use tdstream_common::rtsp::*;

pub mod feeder;
pub mod prepared;
pub mod registry;
pub mod rtcp;
