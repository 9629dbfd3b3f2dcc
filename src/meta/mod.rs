//! Per-frame metadata: the `TdFrameMeta` buffer meta, its wire format, and the SEI plumbing that
//! carries it inside H.264/H.265 access units. Pure logic ([`wire`], [`sei`], [`text`]) is kept
//! apart from the GStreamer glue ([`frame_meta`], [`splice`]).

pub mod caps;
pub mod embed;
pub mod extract;
pub mod frame_meta;
pub mod latency;
pub mod sei;
pub mod splice;
pub mod text;
pub mod wire;
