//! # tdstream-common
//!
//! Plain Rust (no GObject types) shared by tdstream's plugin crates, `libgsttdstream.so` and
//! `libgsttdstreamrtsp.so`: the lock helper, user values shortened for error texts, the single `audio` request pad both sink bins offer, and
//! the RTSP names and URLs (`nvencstreamsink` checks a stream name before it starts; the RTSP server
//! builds on them).

pub mod audiopad;
pub mod display;
pub mod rtsp;
pub mod sync;
