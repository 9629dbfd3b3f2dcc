//! Destination URLs of `nvencstreamsink`: `rtmp://` / `rtmps://` (TouchDesigner's
//! `{service url}/{stream key}`) and `srt://host:port?option=value&...`.
//!
//! Parsing is strict and every error names the `url` property, what is wrong and how to fix it. Secrets
//! (stream key, password, passphrase) are kept apart so that [`RtmpTarget::redacted`] and
//! [`SrtTarget::redacted`] can be logged.

use crate::secrets::REDACTED;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("url is empty. Fix: set url, e.g. {example}")]
    Empty { example: &'static str },
    #[error("url '{shown}' does not start with {expected}. Fix: use a URL like {example}")]
    Scheme {
        shown: String,
        expected: &'static str,
        example: &'static str,
    },
    #[error("url '{shown}' has no host. Fix: put the server's address after '//', e.g. {example}")]
    NoHost {
        shown: String,
        example: &'static str,
    },
    #[error("url '{shown}' has an invalid port '{port}'. Fix: use a port from 1 to 65535")]
    Port { shown: String, port: String },
    #[error(
        "url '{shown}' has no stream key. Fix: use {{service url}}/{{stream key}}, e.g. \
         rtmp://live.example.com/app/STREAM-KEY"
    )]
    NoStreamKey { shown: String },
    #[error(
        "url '{shown}' has no port. Fix: add the SRT port, e.g. srt://127.0.0.1:9000?mode=caller"
    )]
    NoSrtPort { shown: String },
    #[error("url '{shown}': unknown SRT option '{key}'. Fix: use only {allowed}")]
    UnknownOption {
        shown: String,
        key: String,
        allowed: &'static str,
    },
    #[error("url '{shown}': SRT option {key}={value} is invalid. Fix: {fix}")]
    BadOption {
        shown: String,
        key: String,
        value: String,
        fix: &'static str,
    },
    #[error("url '{shown}': a caller needs the listener's address. Fix: set the host, e.g. srt://192.0.2.10:9000")]
    CallerWithoutHost { shown: String },
}

// ---------------------------------------------------------------------------------------------- RTMP

/// An RTMP destination, split so that the secret parts can be shown redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpTarget {
    /// `rtmp` or `rtmps`.
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    /// The application path (`app`, `live2`, `app/sub`).
    pub app: String,
    /// The stream key, including any query (`name?key=...` for nginx-rtmp publish auth). Secret.
    pub stream_key: String,
    pub username: Option<String>,
    /// Secret.
    pub password: Option<String>,
}

pub const RTMP_EXAMPLE: &str = "rtmp://live.example.com/app/STREAM-KEY";
pub const SRT_EXAMPLE: &str = "srt://127.0.0.1:9000?mode=caller";

/// Everything after the scheme and authority, with a shown form that hides any userinfo.
fn split_authority<'a>(
    url: &'a str,
    schemes: &[&'static str],
    expected: &'static str,
    example: &'static str,
) -> Result<(&'static str, &'a str, &'a str), UrlError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(UrlError::Empty { example });
    }
    let lower = url.to_ascii_lowercase();
    let scheme = schemes
        .iter()
        .copied()
        .find(|s| lower.starts_with(&format!("{s}://")))
        .ok_or_else(|| UrlError::Scheme {
            shown: shorten(&scheme_only(url)),
            expected,
            example,
        })?;
    let rest = &url[scheme.len() + 3..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Ok((scheme, &rest[..end], &rest[end..]))
}

/// Shows only what is before `://` plus a marker: a URL that failed to parse may carry a secret anywhere.
fn scheme_only(url: &str) -> String {
    match url.find("://") {
        Some(i) => format!("{}://…", &url[..i]),
        None => "…".to_string(),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// `user:pass@host:port`, split.
struct Authority {
    user: Option<String>,
    pass: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_authority(authority: &str, shown: &str) -> Result<Authority, UrlError> {
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, pass) = match userinfo {
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
            None => (Some(ui.to_string()), None),
        },
        None => (None, None),
    };
    // [v6]:port, host:port, host
    let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
        match stripped.split_once(']') {
            Some((h, rest)) => (h.to_string(), rest.strip_prefix(':')),
            None => (hostport.to_string(), None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => {
            Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| UrlError::Port {
                        shown: shown.to_string(),
                        port: p.to_string(),
                    })?,
            )
        }
        None => None,
    };
    Ok(Authority {
        user,
        pass,
        host,
        port,
    })
}

impl RtmpTarget {
    pub fn parse(url: &str) -> Result<RtmpTarget, UrlError> {
        let (scheme, authority, rest) =
            split_authority(url, &["rtmps", "rtmp"], "rtmp:// or rtmps://", RTMP_EXAMPLE)?;
        let shown_authority = match authority.rfind('@') {
            Some(i) => format!("{REDACTED}@{}", &authority[i + 1..]),
            None => authority.to_string(),
        };
        let shown = format!("{scheme}://{shown_authority}/…");
        let Authority {
            user: username,
            pass: password,
            host,
            port,
        } = parse_authority(authority, &shown)?;
        if host.is_empty() {
            return Err(UrlError::NoHost {
                shown,
                example: RTMP_EXAMPLE,
            });
        }
        let path = rest.trim_start_matches('/');
        // The stream key is the last path segment (with any query); the application is the rest.
        let (app, key) = match path.split_once('?') {
            Some((p, q)) => match p.rsplit_once('/') {
                Some((app, name)) => (app.to_string(), format!("{name}?{q}")),
                None => (String::new(), format!("{p}?{q}")),
            },
            None => match path.rsplit_once('/') {
                Some((app, name)) => (app.to_string(), name.to_string()),
                None => (path.to_string(), String::new()),
            },
        };
        if app.is_empty() || key.is_empty() || key.starts_with('?') {
            return Err(UrlError::NoStreamKey { shown });
        }
        Ok(RtmpTarget {
            scheme: scheme.to_string(),
            host,
            port,
            app,
            stream_key: key,
            username,
            password,
        })
    }

    /// `host[:port]`, with IPv6 hosts bracketed.
    fn hostport(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// `user:<redacted>@host:port` (or just `host:port`).
    fn authority_redacted(&self) -> String {
        let hostport = self.hostport();
        match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{u}:{REDACTED}@{hostport}"),
            (Some(u), None) => format!("{u}@{hostport}"),
            _ => hostport,
        }
    }

    /// The location for `rtmp2sink`, without userinfo (credentials go to its properties).
    pub fn location(&self) -> String {
        format!(
            "{}://{}/{}/{}",
            self.scheme,
            self.hostport(),
            self.app,
            self.stream_key
        )
    }

    /// The URL with the stream key and password replaced, safe to log.
    pub fn redacted(&self) -> String {
        format!(
            "{}://{}/{}/{REDACTED}",
            self.scheme,
            self.authority_redacted(),
            self.app
        )
    }
}

// ----------------------------------------------------------------------------------------------- SRT

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

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SrtTarget {
    pub fn parse(url: &str) -> Result<SrtTarget, UrlError> {
        let (_, authority, rest) = split_authority(url, &["srt"], "srt://", SRT_EXAMPLE)?;
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
                value: if key == "passphrase" {
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
        if let Some(id) = &self.streamid {
            s.push_str(&format!("&streamid={id}"));
        }
        s
    }

    /// The URL with the passphrase replaced, safe to log.
    pub fn redacted(&self) -> String {
        self.redacted_with(&format!("srt://{}:{}", self.host_for_uri(), self.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_splits_service_url_and_stream_key() {
        let t =
            RtmpTarget::parse("rtmp://live-yto.twitch.tv/app/live_1234567_abcdefSECRET").unwrap();
        assert_eq!(t.host, "live-yto.twitch.tv");
        assert_eq!(t.app, "app");
        assert_eq!(t.stream_key, "live_1234567_abcdefSECRET");
        assert_eq!(
            t.location(),
            "rtmp://live-yto.twitch.tv/app/live_1234567_abcdefSECRET"
        );
        assert!(!t.redacted().contains("SECRET"));
    }

    #[test]
    fn rtmp_keeps_query_with_the_key_and_userinfo_apart() {
        let t =
            RtmpTarget::parse("rtmp://bob:hunter22@127.0.0.1:1936/live/cam?key=s3cret").unwrap();
        assert_eq!(t.port, Some(1936));
        assert_eq!(t.stream_key, "cam?key=s3cret");
        assert_eq!(t.username.as_deref(), Some("bob"));
        assert_eq!(t.password.as_deref(), Some("hunter22"));
        assert_eq!(t.location(), "rtmp://127.0.0.1:1936/live/cam?key=s3cret");
        let r = t.redacted();
        assert!(!r.contains("s3cret") && !r.contains("hunter22"), "{r}");
    }

    #[test]
    fn rtmp_errors_name_the_fix_without_the_key() {
        let e = RtmpTarget::parse("http://x/app/SECRETKEY")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rtmp://") && !e.contains("SECRETKEY"), "{e}");
        let e = RtmpTarget::parse("rtmp://host/app").unwrap_err();
        assert!(matches!(e, UrlError::NoStreamKey { .. }), "{e}");
        let e = RtmpTarget::parse("rtmp:///app/key").unwrap_err();
        assert!(matches!(e, UrlError::NoHost { .. }), "{e}");
        let e = RtmpTarget::parse("rtmp://h:99999/app/key").unwrap_err();
        assert!(matches!(e, UrlError::Port { .. }), "{e}");
        assert!(matches!(
            RtmpTarget::parse("  ").unwrap_err(),
            UrlError::Empty { .. }
        ));
    }

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

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }
}
