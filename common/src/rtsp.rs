//! The RTSP side's pure helpers (names, URLs, payloaders, credentials, keyframe rate limiting), shared
//! by both plugins: `nvencstreamsink` checks `stream-name` with them before it starts, and the RTSP
//! server plugin (`tdstreamrtsp/`) builds on them.

use std::time::{Duration, Instant};

/// Checks a stream (mount) name: what comes after `rtsp://host:port/`.
pub fn validate_stream_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("stream-name is empty. Fix: set stream-name, e.g. stream-name=cam1".into());
    }
    if name.len() > 64 {
        return Err("stream-name is longer than 64 characters. Fix: use a shorter name".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.~".contains(*c)))
    {
        return Err(format!(
            "stream-name '{name}' contains '{c}'. Fix: use only letters, digits, '-', '_', '.' and '~' \
             (it becomes rtsp://host:port/<stream-name>)"
        ));
    }
    Ok(())
}

/// The address clients use: the bound address, or this host's primary address when bound to all
/// interfaces.
pub fn host_for_url(address: &str) -> String {
    let wildcard = address.is_empty() || address == "0.0.0.0" || address == "::";
    if !wildcard {
        return address.to_string();
    }
    primary_address().unwrap_or_else(|| "127.0.0.1".to_string())
}

/// The source address of the default route. `connect` on a UDP socket sends nothing; it only asks the
/// kernel which interface it would use (192.0.2.1 is TEST-NET-1, never a real peer).
fn primary_address() -> Option<String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then(|| ip.to_string())
}

pub fn mount_url(tls: bool, host: &str, port: u16, name: &str) -> String {
    let scheme = if tls { "rtsps" } else { "rtsp" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{scheme}://{host}:{port}/{name}")
}

/// Parser and payloader for an encoded stream's caps media type, or `None` when it cannot be
/// payloaded (the caller names what is missing).
pub fn payloader_for(
    media_type: &str,
    mpegversion: Option<i32>,
) -> Option<(&'static str, &'static str)> {
    Some(match (media_type, mpegversion) {
        ("video/x-h264", _) => (
            "h264parse config-interval=-1",
            "rtph264pay config-interval=-1",
        ),
        ("video/x-h265", _) => (
            "h265parse config-interval=-1",
            "rtph265pay config-interval=-1",
        ),
        ("video/x-av1", _) => ("av1parse", "rtpav1pay"),
        ("audio/mpeg", Some(4) | Some(2)) => ("aacparse", "rtpmp4gpay"),
        ("audio/mpeg", Some(1)) => ("mpegaudioparse", "rtpmpapay"),
        ("audio/x-opus", _) => ("opusparse", "rtpopuspay"),
        _ => return None,
    })
}

/// `user:pass,user2:pass2` → pairs. The error never repeats a password.
pub fn parse_users(spec: &str) -> Result<Vec<(String, String)>, String> {
    let mut users = Vec::new();
    for (i, entry) in spec
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        match entry.split_once(':') {
            Some((u, p)) if !u.is_empty() && !p.is_empty() => users.push((u.to_string(), p.to_string())),
            _ => {
                return Err(format!(
                    "auth-users entry {} is not user:password. Fix: auth-users=\"alice:secret1,bob:secret2\"",
                    i + 1
                ))
            }
        }
    }
    Ok(users)
}

/// Parses `first-last` multicast address ranges, e.g. `239.255.42.0-239.255.42.255`.
pub fn parse_range(spec: &str) -> Result<(std::net::Ipv4Addr, std::net::Ipv4Addr), String> {
    let bad = || {
        format!(
            "multicast-range '{spec}' is not first-last multicast IPv4 addresses. Fix: e.g. \
             multicast-range=239.255.42.0-239.255.42.255"
        )
    };
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let a: std::net::Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let b: std::net::Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
    if !a.is_multicast() || !b.is_multicast() || u32::from(a) > u32::from(b) {
        return Err(bad());
    }
    Ok((a, b))
}

/// What to do with a keyframe request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeAction {
    /// Send a force-key-unit now.
    SendNow,
    /// Too soon after the last one: send one at the end of the interval (the caller schedules it).
    SendAfter(Duration),
    /// One is already scheduled and will serve this request too.
    Coalesced,
}

/// At most one forced keyframe per interval; requests in between are folded into one at the end of
/// the interval, so a crowd of joiners costs one extra IDR and no joiner waits for the GOP.
#[derive(Debug)]
pub struct KeyframeLimiter {
    interval: Duration,
    last: Option<Instant>,
    scheduled: bool,
}

impl KeyframeLimiter {
    pub fn new(interval: Duration) -> Self {
        KeyframeLimiter {
            interval,
            last: None,
            scheduled: false,
        }
    }

    pub fn request(&mut self, now: Instant) -> KeyframeAction {
        if self.scheduled {
            return KeyframeAction::Coalesced;
        }
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.scheduled = true;
                KeyframeAction::SendAfter(self.interval - now.duration_since(last))
            }
            _ => {
                self.last = Some(now);
                KeyframeAction::SendNow
            }
        }
    }

    /// The scheduled request fired.
    pub fn fired(&mut self, now: Instant) {
        self.scheduled = false;
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert!(validate_stream_name("cam1").is_ok());
        assert!(validate_stream_name("td.vid-stream_2~").is_ok());
        let e = validate_stream_name("a/b").unwrap_err();
        assert!(e.contains("'/'") && e.contains("Fix"), "{e}");
        assert!(validate_stream_name("").is_err());
        assert!(validate_stream_name("caméra").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            mount_url(false, "127.0.0.1", 8554, "cam"),
            "rtsp://127.0.0.1:8554/cam"
        );
        assert_eq!(mount_url(true, "::1", 8322, "x"), "rtsps://[::1]:8322/x");
        assert_eq!(host_for_url("127.0.0.1"), "127.0.0.1");
        assert!(!host_for_url("0.0.0.0").is_empty());
    }

    #[test]
    fn payloaders() {
        assert_eq!(
            payloader_for("video/x-h264", None).unwrap().1,
            "rtph264pay config-interval=-1"
        );
        assert_eq!(payloader_for("audio/mpeg", Some(1)).unwrap().1, "rtpmpapay");
        assert_eq!(
            payloader_for("audio/mpeg", Some(4)).unwrap().1,
            "rtpmp4gpay"
        );
        assert!(payloader_for("video/x-vp8", None).is_none());
    }

    #[test]
    fn users_never_echo_passwords() {
        assert_eq!(parse_users("a:b, c:d").unwrap().len(), 2);
        let e = parse_users("alice:s3cret,bob").unwrap_err();
        assert!(e.contains("entry 2") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn multicast_ranges() {
        assert!(parse_range("239.255.42.0-239.255.42.255").is_ok());
        assert!(parse_range("10.0.0.1-10.0.0.2").is_err());
        assert!(parse_range("239.0.0.9-239.0.0.1").is_err());
    }

    #[test]
    fn keyframe_requests_are_rate_limited_and_coalesced() {
        let t0 = Instant::now();
        let mut l = KeyframeLimiter::new(Duration::from_millis(500));
        assert_eq!(l.request(t0), KeyframeAction::SendNow);
        assert_eq!(
            l.request(t0 + Duration::from_millis(100)),
            KeyframeAction::SendAfter(Duration::from_millis(400))
        );
        assert_eq!(
            l.request(t0 + Duration::from_millis(200)),
            KeyframeAction::Coalesced
        );
        l.fired(t0 + Duration::from_millis(500));
        assert_eq!(
            l.request(t0 + Duration::from_millis(600)),
            KeyframeAction::SendAfter(Duration::from_millis(400))
        );
        l.fired(t0 + Duration::from_millis(1000));
        assert_eq!(
            l.request(t0 + Duration::from_millis(1600)),
            KeyframeAction::SendNow
        );
    }
}
