//! `TdFrameMeta`: a GstMeta registered with no tags, so that video encoders and decoders carry it
//! from their input frame to their output frame. It holds the frame's metadata in the wire format
//! ([`super::wire`]), so that embedding and extracting move bytes, not values; [`read`] and
//! [`write`] are the typed API.
//!
//! From C or Python: `gst_buffer_get_custom_meta (buffer, "TdFrameMeta")`, whose structure has a
//! `payload` field (GBytes) in the format of docs/METADATA-WIRE-FORMAT.md.

use super::wire::{FrameData, WireError};
use gst::glib;

pub const NAME: &str = "TdFrameMeta";
const FIELD: &str = "payload";

/// Registers the meta (idempotent; the plugin does it when it loads).
pub fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if !gst::meta::CustomMeta::is_registered(NAME) {
            gst::meta::CustomMeta::register(NAME, &[]);
        }
    });
}

/// The raw payload of the buffer's `TdFrameMeta`, if it has one.
pub fn payload(buffer: &gst::BufferRef) -> Option<glib::Bytes> {
    register();
    let meta = gst::meta::CustomMeta::from_buffer(buffer, NAME).ok()?;
    meta.structure().get::<glib::Bytes>(FIELD).ok()
}

/// Attaches (or replaces) the buffer's `TdFrameMeta` with a raw payload.
pub fn set_payload(buffer: &mut gst::BufferRef, payload: glib::Bytes) {
    register();
    if let Ok(mut meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, NAME) {
        meta.mut_structure().set(FIELD, payload);
        return;
    }
    if let Ok(mut meta) = gst::meta::CustomMeta::add(buffer, NAME) {
        meta.mut_structure().set(FIELD, payload);
    }
}

/// The buffer's metadata, decoded.
pub fn read(buffer: &gst::BufferRef) -> Option<Result<FrameData, WireError>> {
    payload(buffer).map(|p| FrameData::decode(&p))
}

/// Attaches (or replaces) the buffer's metadata.
pub fn write(buffer: &mut gst::BufferRef, data: &FrameData) {
    set_payload(buffer, glib::Bytes::from_owned(data.encode()));
}
