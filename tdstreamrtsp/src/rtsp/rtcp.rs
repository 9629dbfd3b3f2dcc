//! What RTSP clients report about our stream: RTCP receiver reports, as rtpsession's `stats` show them.

/// The highest fraction lost (0..1) in the report blocks of the remote sources (the clients) in an
/// RTPSession `stats` structure; 0 without reports.
pub fn worst_fraction_lost(stats: &gst::StructureRef) -> f64 {
    let Ok(sources) = stats.get::<gst::glib::ValueArray>("source-stats") else {
        return 0.0;
    };
    let reports: Vec<gst::Structure> = sources
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .collect();
    worst_of(reports.iter().map(|s| s.as_ref()))
}

fn worst_of<'a>(sources: impl Iterator<Item = &'a gst::StructureRef>) -> f64 {
    sources
        .filter(|s| !s.get::<bool>("internal").unwrap_or(true))
        .filter(|s| s.get::<bool>("have-rb").unwrap_or(false))
        .filter_map(|s| s.get::<u32>("rb-fractionlost").ok())
        .map(|f| f.min(255) as f64 / 256.0)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(internal: bool, have_rb: bool, lost: u32) -> gst::Structure {
        gst::Structure::builder("application/x-rtp-source-stats")
            .field("internal", internal)
            .field("have-rb", have_rb)
            .field("rb-fractionlost", lost)
            .build()
    }

    #[test]
    fn worst_report_of_the_clients_counts() {
        gst::init().expect("gst");
        let all = [
            source(true, true, 200), // our own sender: not a report from a client
            source(false, true, 64),
            source(false, true, 128),
            source(false, false, 255), // no report block yet
        ];
        assert_eq!(worst_of(all.iter().map(|s| s.as_ref())), 0.5);
        assert_eq!(worst_of(std::iter::empty()), 0.0);
        let empty = gst::Structure::new_empty("application/x-rtp-session-stats");
        assert_eq!(worst_fraction_lost(&empty), 0.0);
    }
}
