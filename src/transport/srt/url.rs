//! SRT destination URLs: `srt://host:port?option=value&...` with every option srtsink takes. The
//! passphrase and the stream id (which carries credentials on common servers) are kept apart so that
//! [`SrtTarget::redacted`] can be logged.

use crate::secrets::REDACTED;
use crate::transport::url::{
    parse_authority, percent_decode, split_authority, Authority, UrlError,
};

pub const EXAMPLE: &str = "srt://127.0.0.1:9000?mode=caller";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtMode {
    Caller,
    Listener,
    Rendezvous,
}

impl SrtMode {
    pub fn nick(self) -> &'static str {
        match self {
            SrtMode::Caller => "caller",
            SrtMode::Listener => "listener",
            SrtMode::Rendezvous => "rendezvous",
        }
    }
}

/// An SRT destination with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtTarget {
    /// Empty for a listener on all interfaces.
    pub host: String,
    pub port: u16,
    pub mode: SrtMode,
    /// Milliseconds.
    pub latency: Option<u32>,
    /// Secret.
    pub passphrase: Option<String>,
    /// 0 (automatic), 16, 24 or 32 bytes.
    pub pbkeylen: Option<u32>,
    pub streamid: Option<String>,
    pub localaddress: Option<String>,
    pub localport: Option<u16>,
    /// Milliseconds.
    pub poll_timeout: Option<i32>,
}

pub const SRT_OPTIONS: &str =
    "mode, latency, passphrase, pbkeylen, streamid, localaddress, localport, poll-timeout";

impl SrtTarget {
    pub fn parse(url: &str) -> Result<SrtTarget, UrlError> {
        let (_, authority, rest) = split_authority(url, &["srt"], "srt://", EXAMPLE)?;
        let shown_base = format!("srt://{authority}");
        let Authority { host, port, .. } = parse_authority(authority, &shown_base)?;
        let port = port.ok_or_else(|| UrlError::NoSrtPort {
            shown: shown_base.clone(),
        })?;
        let query = rest.trim_start_matches('/').strip_prefix('?').unwrap_or("");
        let mut t = SrtTarget {
            host,
            port,
            mode: SrtMode::Caller,
            latency: None,
            passphrase: None,
            pbkeylen: None,
            streamid: None,
            localaddress: None,
            localport: None,
            poll_timeout: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(raw);
            let shown = t.redacted_with(&shown_base);
            let bad = |fix: &'static str| UrlError::BadOption {
                shown: shown.clone(),
                key: key.to_string(),
                value: if key == "passphrase" || key == "streamid" {
                    REDACTED.to_string()
                } else {
                    value.clone()
                },
                fix,
            };
            match key {
                "mode" => {
                    t.mode = match value.as_str() {
                        "caller" | "client" => SrtMode::Caller,
                        "listener" | "server" => SrtMode::Listener,
                        "rendezvous" => SrtMode::Rendezvous,
                        _ => return Err(bad("use mode=caller, mode=listener or mode=rendezvous")),
                    }
                }
                "latency" => {
                    t.latency = Some(
                        value
                            .parse()
                            .map_err(|_| bad("use latency in milliseconds, e.g. latency=120"))?,
                    )
                }
                "passphrase" => {
                    let n = value.chars().count();
                    if !(10..=79).contains(&n) {
                        return Err(bad("SRT passphrases have 10 to 79 characters"));
                    }
                    t.passphrase = Some(value);
                }
                "pbkeylen" => {
                    let v: u32 = value
                        .parse()
                        .map_err(|_| bad("use pbkeylen=0, 16, 24 or 32"))?;
                    if ![0, 16, 24, 32].contains(&v) {
                        return Err(bad("use pbkeylen=0, 16, 24 or 32"));
                    }
                    t.pbkeylen = Some(v);
                }
                "streamid" => t.streamid = Some(value),
                "localaddress" => t.localaddress = Some(value),
                "localport" => {
                    t.localport = Some(
                        value
                            .parse()
                            .map_err(|_| bad("use a port from 0 to 65535"))?,
                    )
                }
                "poll-timeout" | "poll_timeout" => {
                    t.poll_timeout = Some(
                        value
                            .parse()
                            .map_err(|_| bad("use milliseconds, -1 = forever"))?,
                    )
                }
                _ => {
                    return Err(UrlError::UnknownOption {
                        shown,
                        key: key.to_string(),
                        allowed: SRT_OPTIONS,
                    })
                }
            }
        }
        let wildcard = t.host.is_empty() || t.host == "0.0.0.0" || t.host == "::";
        if t.mode != SrtMode::Listener && wildcard {
            return Err(UrlError::CallerWithoutHost {
                shown: t.redacted(),
            });
        }
        Ok(t)
    }

    fn host_for_uri(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The URI for `srtsink`, without secrets (the passphrase goes to its property).
    pub fn sink_uri(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            self.host_for_uri()
        };
        format!("srt://{host}:{}?mode={}", self.port, self.mode.nick())
    }

    fn redacted_with(&self, base: &str) -> String {
        let mut s = format!("{base}?mode={}", self.mode.nick());
        if let Some(l) = self.latency {
            s.push_str(&format!("&latency={l}"));
        }
        if self.passphrase.is_some() {
            s.push_str(&format!("&passphrase={REDACTED}"));
        }
        if let Some(p) = self.pbkeylen {
            s.push_str(&format!("&pbkeylen={p}"));
        }
        if self.streamid.is_some() {
            // Stream ids carry credentials on common servers (`publish:cam:alice:PASSWORD`).
            s.push_str(&format!("&streamid={REDACTED}"));
        }
        s
    }

    /// The URL with the passphrase and the stream id replaced, safe to log.
    pub fn redacted(&self) -> String {
        self.redacted_with(&format!("srt://{}:{}", self.host_for_uri(), self.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_parses_every_option() {
        let t = SrtTarget::parse(
            "srt://127.0.0.1:9000?mode=caller&latency=200&passphrase=0123456789ab&pbkeylen=16&streamid=cam%201",
        )
        .unwrap();
        assert_eq!(t.mode, SrtMode::Caller);
        assert_eq!(t.latency, Some(200));
        assert_eq!(t.passphrase.as_deref(), Some("0123456789ab"));
        assert_eq!(t.pbkeylen, Some(16));
        assert_eq!(t.streamid.as_deref(), Some("cam 1"));
        assert_eq!(t.sink_uri(), "srt://127.0.0.1:9000?mode=caller");
        assert!(!t.redacted().contains("0123456789ab"));
    }

    #[test]
    fn srt_listener_on_all_interfaces() {
        let t = SrtTarget::parse("srt://:9000?mode=listener").unwrap();
        assert_eq!(t.sink_uri(), "srt://0.0.0.0:9000?mode=listener");
        let t = SrtTarget::parse("srt://0.0.0.0:9000?mode=listener").unwrap();
        assert_eq!(t.mode, SrtMode::Listener);
    }

    #[test]
    fn srt_errors() {
        let e = SrtTarget::parse("srt://127.0.0.1?mode=caller").unwrap_err();
        assert!(matches!(e, UrlError::NoSrtPort { .. }));
        let e = SrtTarget::parse("srt://127.0.0.1:9000?mode=sideways")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode=listener"), "{e}");
        let e = SrtTarget::parse("srt://127.0.0.1:9000?colour=red")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour") && e.contains("latency"), "{e}");
        let e = SrtTarget::parse("srt://127.0.0.1:9000?passphrase=short")
            .unwrap_err()
            .to_string();
        assert!(e.contains("10 to 79") && !e.contains("short"), "{e}");
        let e = SrtTarget::parse("srt://127.0.0.1:9000?pbkeylen=8").unwrap_err();
        assert!(matches!(e, UrlError::BadOption { .. }));
        let e = SrtTarget::parse("srt://:9000?mode=caller").unwrap_err();
        assert!(matches!(e, UrlError::CallerWithoutHost { .. }));
    }
}
