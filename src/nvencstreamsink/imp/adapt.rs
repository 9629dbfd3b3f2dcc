//! Every half second, for each destination: its sample, the verdict on its network, the "cannot keep up"
//! warning when that lasts; with `adaptive-bitrate`, the new video bitrate applied to the running
//! encoder and posted as `nvencstreamsink-bitrate`. The decisions are [`crate::destination::ratecontrol`]'s.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::{NvencStreamSink, CAT};
use crate::destination::ratecontrol::{self, Controller, Verdict};
use crate::destination::Dest;
use crate::encoder::catalog;
use crate::nvencstreamsink::ConnectionState;
use tdstream_common::sync::lock;

/// The adaptive bitrate of a running element.
pub(super) struct Adaptive {
    controller: Controller,
    encoder: glib::WeakRef<gst::Element>,
    property: &'static str,
    /// VBR on NVENC: `max-bitrate` follows, in the proportion max / avg of the settings.
    peak: Option<f64>,
}

impl Adaptive {
    /// For `encoder` (`factory`), between `min_kbps` and `max_kbps`; Err with the reason where the
    /// encoder cannot take a new bitrate while it plays.
    pub(super) fn new(
        encoder: &gst::Element,
        factory: &str,
        (min_kbps, max_kbps): (u32, u32),
        peak: Option<f64>,
    ) -> Result<Adaptive, String> {
        let cannot = || {
            format!(
                "adaptive-bitrate is off: {factory} cannot change its bitrate while playing. Fix: use an H.264 or \
                 H.265 encoder (video-codec=h264), or adaptive-bitrate=false"
            )
        };
        let property =
            catalog::live_bitrate_property(catalog::family_of(factory)).ok_or_else(cannot)?;
        let pspec = encoder.find_property(property).ok_or_else(cannot)?;
        if !pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING) {
            return Err(cannot());
        }
        Ok(Adaptive {
            controller: Controller::new(min_kbps, max_kbps),
            encoder: encoder.downgrade(),
            property,
            peak: peak.filter(|_| encoder.find_property("max-bitrate").is_some()),
        })
    }

    fn apply(&self, kbps: u32) {
        let Some(encoder) = self.encoder.upgrade() else {
            return;
        };
        set_kbps(&encoder, self.property, kbps);
        if let Some(ratio) = self.peak {
            set_kbps(&encoder, "max-bitrate", (kbps as f64 * ratio) as u32);
        }
    }
}

/// Sets a kbit/s property whatever its integer type.
fn set_kbps(encoder: &gst::Element, property: &str, kbps: u32) {
    let Some(pspec) = encoder.find_property(property) else {
        return;
    };
    let value = if pspec.value_type() == glib::Type::I32 {
        (kbps.min(i32::MAX as u32) as i32).to_value()
    } else if pspec.value_type() == glib::Type::U64 {
        (kbps as u64).to_value()
    } else {
        kbps.to_value()
    };
    encoder.set_property_from_value(property, &value);
}

impl NvencStreamSink {
    /// Every half second (from the monitor's tick): samples, verdicts, warnings, adaptation.
    pub(super) fn judge_destinations(&self, now: Instant, dests: &[Arc<Dest>]) {
        let mut verdicts = Vec::new();
        for (position, d) in dests.iter().enumerate() {
            let Some(sample) = d.measure(now) else {
                continue;
            };
            let verdict =
                ratecontrol::judge(&sample).filter(|_| d.state() == ConnectionState::Connected);
            let congested = verdict.as_ref().is_some_and(Verdict::is_congested);
            let warn = {
                let mut c = lock(&d.congestion);
                c.0 = congested;
                c.1.observe(now, congested)
            };
            if let (
                true,
                Some(Verdict::Congested {
                    carried_bps, why, ..
                }),
            ) = (warn, &verdict)
            {
                self.warn_congested(d, *carried_bps, sample.offered_now_bps, why);
            }
            verdicts.push((position, verdict, sample.offered_now_bps));
        }
        if !verdicts.is_empty() {
            self.adapt(now, &verdicts);
        }
    }

    fn warn_congested(&self, d: &Dest, carried_bps: u64, offered_bps: u64, why: &str) {
        let target = self.target_bps.load(Ordering::Relaxed);
        // The video's part of what the network carried, less a margin for the queue to drain.
        let video_share = if offered_bps > 0 {
            (target as f64 / offered_bps as f64).min(1.0)
        } else {
            1.0
        };
        let fits = carried_bps as f64 * video_share * 0.85 / 1e6;
        let fix = match lock(&self.adaptive).as_ref() {
            Some(a) if a.controller.target_kbps() > a.controller.min_kbps() => format!(
                "adaptive-bitrate is lowering the video bitrate (now {:.2} Mbit/s)",
                target as f64 / 1e6
            ),
            Some(_) => format!(
                "the video is at min-bitrate already. Fix: lower min-bitrate (to about {fits:.2}), or find a faster link"
            ),
            None => format!(
                "Fix: lower avg-bitrate (to about {fits:.2}), or set adaptive-bitrate=true"
            ),
        };
        let text = self.network_text(
            d.id,
            &format!(
                "cannot keep up for {} s: {why}; the video is encoded at {:.2} Mbit/s; {fix}",
                ratecontrol::WARN_AFTER.as_secs(),
                target as f64 / 1e6
            ),
        );
        gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", text));
    }

    fn adapt(&self, now: Instant, verdicts: &[(usize, Option<Verdict>, u64)]) {
        let mut adaptive = lock(&self.adaptive);
        let Some(a) = adaptive.as_mut() else {
            return;
        };
        let list: Vec<(Option<Verdict>, u64)> =
            verdicts.iter().map(|(_, v, o)| (v.clone(), *o)).collect();
        let Some((i, verdict, offered)) = ratecontrol::slowest(&list) else {
            return;
        };
        let previous = a.controller.target_kbps();
        let Some(change) = a.controller.update(now, &verdict, offered) else {
            return;
        };
        a.apply(change.kbps);
        drop(adaptive);
        let bps = change.kbps as u64 * 1000;
        self.target_bps.store(bps, Ordering::Relaxed);
        let position = verdicts[i].0 as u32;
        gst::info!(
            CAT,
            imp = self,
            "video bitrate {} -> {} kbit/s (destination {}): {}",
            previous,
            change.kbps,
            position + 1,
            change.reason
        );
        let msg = gst::message::Element::builder(
            gst::Structure::builder("nvencstreamsink-bitrate")
                .field("bitrate", bps)
                .field("previous", previous as u64 * 1000)
                .field("reason", &change.reason)
                .field("destination", position)
                .build(),
        )
        .src(&*self.obj())
        .build();
        let _ = self.obj().post_message(msg);
    }
}
