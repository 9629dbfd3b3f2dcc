//! Glass-to-glass latency statistics: last, min, max and mean of (receive time − capture time).

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub last_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    sum_ms: f64,
}

impl Latency {
    pub fn add(&mut self, ms: f64) {
        if self.count == 0 {
            self.min_ms = ms;
            self.max_ms = ms;
        }
        self.count += 1;
        self.last_ms = ms;
        self.min_ms = self.min_ms.min(ms);
        self.max_ms = self.max_ms.max(ms);
        self.sum_ms += ms;
    }

    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ms / self.count as f64
        }
    }

    pub fn to_structure(&self, name: &str) -> gst::Structure {
        gst::Structure::builder(name)
            .field("count", self.count)
            .field("last-ms", self.last_ms)
            .field("min-ms", self.min_ms)
            .field("max-ms", self.max_ms)
            .field("mean-ms", self.mean_ms())
            .build()
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats() {
        let mut l = Latency::default();
        assert_eq!(l.mean_ms(), 0.0);
        for ms in [30.0, 10.0, 20.0] {
            l.add(ms);
        }
        assert_eq!(
            (l.count, l.last_ms, l.min_ms, l.max_ms),
            (3, 20.0, 10.0, 30.0)
        );
        assert_eq!(l.mean_ms(), 20.0);
    }
}
