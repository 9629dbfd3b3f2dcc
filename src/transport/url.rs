//! What the destination URLs of every transport share: the error type, the scheme and authority
//! (`user:pass@host:port`), percent-decoding. Each transport parses its own URL with these (see
//! `rtmp/url.rs`, `srt/url.rs`, `rtsp.rs`, `webrtc/ice.rs`).
//!
//! Parsing is strict and every error names the `url` property, what is wrong and how to fix it. A URL
//! that failed to parse is shown only as far as it holds no secret.

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
/// Everything after the scheme and authority, with a shown form that hides any userinfo.
pub(crate) fn split_authority<'a>(
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
            shown: shown_unparsed(url),
            expected,
            example,
        })?;
    let rest = &url[scheme.len() + 3..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Ok((scheme, &rest[..end], &rest[end..]))
}

/// Shows only what is before `://` plus a marker: a URL that failed to parse may carry a secret anywhere.
/// A URL that did not parse, as far as it can be shown: scheme, host and path, with user information,
/// the last path segment (where stream keys and tokens live) and any query redacted. It may carry a
/// secret anywhere else too, so nothing else is kept.
pub(crate) fn shown_unparsed(url: &str) -> String {
    let url = url.trim();
    let (scheme, sep, rest) = match url.find("://") {
        Some(i) => (&url[..i], "://", &url[i + 3..]),
        None => match url.find(':') {
            Some(i) if i > 0 && url[..i].chars().all(|c| c.is_ascii_alphanumeric()) => {
                (&url[..i], ":", &url[i + 1..])
            }
            _ => ("", "", url),
        },
    };
    let query = if rest.contains(['?', '#']) {
        "?<redacted>"
    } else {
        ""
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some((_, h)) => format!("{REDACTED}@{h}"),
        None => authority.to_string(),
    };
    let path = match path.rsplit_once('/') {
        Some((head, last)) if !last.is_empty() => format!("{head}/{REDACTED}"),
        _ => path.to_string(),
    };
    shorten(&format!("{scheme}{sep}{host}{path}{query}"))
}

pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// `user:pass@host:port`, split.
pub(crate) struct Authority {
    pub user: Option<String>,
    pub pass: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

pub(crate) fn parse_authority(authority: &str, shown: &str) -> Result<Authority, UrlError> {
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

pub(crate) fn percent_decode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsed_urls_show_scheme_host_and_path_without_secrets() {
        assert_eq!(
            shown_unparsed("http://bob:pw@x:1/app/SECRETKEY?k=v"),
            "http://<redacted>@x:1/app/<redacted>?<redacted>"
        );
        assert_eq!(shown_unparsed("rtmp:h/app+KEY"), "rtmp:h/<redacted>");
        assert_eq!(shown_unparsed("srt://h:9000"), "srt://h:9000");
        assert_eq!(shown_unparsed("garbage"), "garbage");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }
}
