//! Keeping stream keys, passwords and passphrases out of logs, errors and messages.

/// What replaces a secret in any text this project prints.
pub const REDACTED: &str = "<redacted>";

/// The secrets of one configuration; [`Redactor::redact`] removes them from any text, including text
/// written by child elements (their error messages are re-posted through it).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret. Very short values (under 3 characters) are not registered: replacing them in
    /// every text would make messages unreadable and they protect nothing.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 3 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Takes in every secret of `other` as well.
    pub fn merge(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s);
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence_longest_first() {
        let mut r = Redactor::new();
        r.add("abc");
        r.add("abcdef");
        r.add("x");
        assert_eq!(r.redact("k=abcdef, abc, x"), "k=<redacted>, <redacted>, x");
    }
}
