//! User-supplied values as error texts show them: long ones shortened, so that a 10 kB property value
//! does not become a 10 kB error message.

/// At most this many characters of a value are shown.
const MAX_CHARS: usize = 120;

/// `value`, or its first characters followed by how long it was.
pub fn shown(value: &str) -> String {
    let n = value.chars().count();
    if n <= MAX_CHARS {
        return value.to_string();
    }
    let head: String = value.chars().take(MAX_CHARS).collect();
    format!("{head}… ({n} characters)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_pass_long_ones_are_cut() {
        assert_eq!(shown("a.csv"), "a.csv");
        let long = "é".repeat(10_000);
        let s = shown(&long);
        assert!(s.ends_with("… (10000 characters)"), "{s}");
        assert!(s.chars().count() < 160);
    }
}
