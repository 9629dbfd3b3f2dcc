//! The encoder layer: which element encodes, and how it is configured from the TouchDesigner-style
//! settings.
//!
//! - [`settings`]: the settings themselves (codec, profile, quality, bitrates, ...).
//! - [`catalog`]: the known encoder elements, in order of preference, with the Debian package of each.
//! - [`nvenc`], [`software`]: one table per encoder element, driven by the element's real properties.
//! - [`schema`]: how a table sees an element's properties (from the installed class, or from the
//!   reference JSON schemas in tests).
//! - [`select`]: the run-time policy (`encoder=auto|nvenc|software`, `encoder-name`).
//! - [`audio`]: the audio codec of the encode.

pub mod audio;
pub mod catalog;
pub mod config;
pub mod nvenc;
pub mod schema;
pub mod select;
pub mod settings;
pub mod software;

pub use audio::AudioCodec;
pub use catalog::{Family, KNOWN_ENCODERS};
pub use config::{EncoderConfig, PropValue};
pub use settings::{BitrateMode, Codec, EncoderSettings, Profile, Quality};

/// Configures the element described by `schema` (of the given family) from `settings`.
pub fn configure(
    family: Family,
    settings: &EncoderSettings,
    schema: &dyn schema::PropertySchema,
) -> EncoderConfig {
    match family {
        Family::Nvenc => nvenc::configure(settings, schema),
        Family::X264 => software::configure_x264(settings, schema),
        Family::X265 => software::configure_x265(settings, schema),
        Family::Aom => software::configure_aom(settings, schema),
        Family::SvtAv1 => software::configure_svtav1(settings, schema),
        Family::Rav1e => software::configure_rav1e(settings, schema),
        Family::Other => software::configure_generic(settings, schema),
    }
}
