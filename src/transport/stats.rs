//! Reading what the network sinks themselves count.

use gst::prelude::*;

/// Packets lost on the way out as a share of the packets sent (0 when the sink does not count them):
/// srtsink's socket statistics, summed over its callers in listener mode; rtspsharedserver's figure
/// from the clients' RTCP receiver reports.
pub fn packet_loss_ratio(sink: &gst::Element) -> f64 {
    if sink.find_property("stats").is_none() {
        return 0.0;
    }
    let Some(stats) = sink.property::<Option<gst::Structure>>("stats") else {
        return 0.0;
    };
    if let Ok(loss) = stats.get::<f64>("packet-loss-ratio") {
        return loss; // rtspsharedserver, from RTCP receiver reports
    }
    let (sent, lost) = srt_counts(&stats);
    ratio(sent, lost)
}

fn srt_counts(stats: &gst::StructureRef) -> (u64, u64) {
    let mut all = vec![stats.to_owned()];
    if let Ok(callers) = stats.get::<gst::glib::ValueArray>("callers") {
        all.extend(
            callers
                .iter()
                .filter_map(|c| c.get::<gst::Structure>().ok()),
        );
    }
    sum_counts(all.iter().map(|s| s.as_ref()))
}

/// Packets sent and lost, summed over socket statistics structures.
fn sum_counts<'a>(stats: impl Iterator<Item = &'a gst::StructureRef>) -> (u64, u64) {
    let int = |s: &gst::StructureRef, name: &str| -> u64 {
        s.get::<i64>(name)
            .map(|v| v.max(0) as u64)
            .or_else(|_| s.get::<i32>(name).map(|v| v.max(0) as u64))
            .unwrap_or(0)
    };
    stats.fold((0, 0), |(sent, lost), s| {
        (
            sent + int(s, "packets-sent"),
            lost + int(s, "packets-sent-lost"),
        )
    })
}

/// `lost / sent`, within [0, 1].
pub fn ratio(sent: u64, lost: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        (lost as f64 / sent as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_and_listener_statistics_are_summed() {
        gst::init().expect("gst");
        let caller = gst::Structure::builder("application/x-srt-statistics")
            .field("packets-sent", 200i64)
            .field("packets-sent-lost", 3i32)
            .build();
        assert_eq!(srt_counts(&caller), (200, 3));
        let one = gst::Structure::builder("s")
            .field("packets-sent", 100i64)
            .field("packets-sent-lost", 1i32)
            .build();
        let empty = gst::Structure::new_empty("application/x-srt-statistics");
        assert_eq!(srt_counts(&empty), (0, 0));
        assert_eq!(sum_counts([&*one, &*one, &*empty].into_iter()), (200, 2));
        assert_eq!(ratio(200, 2), 0.01);
        assert_eq!(ratio(0, 5), 0.0);
    }
}
