//! The text forms of metadata used by properties and messages: a table as `a,b;c,d` (rows split by
//! `;`, cells by `,`), and a CSV file of per-frame channel values.

use super::wire::Channels;

/// Parses `a,b;c,d` into rows of cells. Every row gets as many cells as the widest one (missing
/// cells are empty). An empty string is an empty table.
pub fn parse_table(s: &str) -> Vec<Vec<String>> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    let mut rows: Vec<Vec<String>> = s
        .split(';')
        .map(|r| r.split(',').map(|c| c.trim().to_string()).collect())
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    for r in &mut rows {
        r.resize(width, String::new());
    }
    rows
}

pub fn format_table(rows: &[Vec<String>]) -> String {
    rows.iter()
        .map(|r| r.join(","))
        .collect::<Vec<_>>()
        .join(";")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the first line must name the channels (e.g. 'tx,ty,tz')")]
    NoHeader,
    #[error("line {line}: '{cell}' is not a number")]
    NotANumber { line: usize, cell: String },
    #[error("line {line}: {got} values for {want} channels")]
    Width {
        line: usize,
        got: usize,
        want: usize,
    },
}

/// Per-frame channel values from CSV text: a header line of channel names, then one line of numbers
/// per frame. Blank lines and lines starting with `#` are skipped.
pub fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<Vec<f64>>), CsvError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines.next().ok_or(CsvError::NoHeader)?;
    let names: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(CsvError::NoHeader);
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(CsvError::Width {
                line: i + 1,
                got: cells.len(),
                want: names.len(),
            });
        }
        let row = cells
            .iter()
            .map(|c| {
                c.parse::<f64>().map_err(|_| CsvError::NotANumber {
                    line: i + 1,
                    cell: c.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(row);
    }
    Ok((names, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(
            parse_table("a,b;c"),
            vec![
                vec!["a".to_string(), "b".into()],
                vec!["c".into(), "".into()]
            ]
        );
        assert!(parse_table(" ").is_empty());
        assert_eq!(format_table(&parse_table("a,b;c,d")), "a,b;c,d");
    }

    #[test]
    fn csv() {
        let (names, rows) = parse_csv("# comment\ntx, ty\n1,2\n\n3.5,-4\n").expect("csv");
        assert_eq!(names, vec!["tx", "ty"]);
        assert_eq!(rows, vec![vec![1.0, 2.0], vec![3.5, -4.0]]);
        assert_eq!(parse_csv(""), Err(CsvError::NoHeader));
        assert_eq!(
            parse_csv("a,b\n1,x"),
            Err(CsvError::NotANumber {
                line: 2,
                cell: "x".into()
            })
        );
        assert_eq!(
            parse_csv("a,b\n1"),
            Err(CsvError::Width {
                line: 2,
                got: 1,
                want: 2
            })
        );
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {what}")]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    pub what: &'static str,
}

/// Per-frame channel values from JSON lines: one object per frame, each member a number or an array
/// of numbers, e.g. `{"tx": 0.5, "rgb": [1, 0.5, 0.2]}`. Blank lines are skipped.
pub fn parse_json_lines(text: &str) -> Result<Vec<Channels>, JsonError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let mut p = Json {
                s: l.as_bytes(),
                at: 0,
            };
            p.object().map_err(|what| JsonError {
                line: i + 1,
                column: p.at + 1,
                what,
            })
        })
        .collect()
}

/// Just enough JSON for one object of numbers and arrays of numbers.
struct Json<'a> {
    s: &'a [u8],
    at: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn object(&mut self) -> Result<Channels, &'static str> {
        if !self.eat(b'{') {
            return Err("expected '{'");
        }
        let mut members = Vec::new();
        if !self.eat(b'}') {
            loop {
                let name = self.string()?;
                if !self.eat(b':') {
                    return Err("expected ':'");
                }
                let values = if self.eat(b'[') {
                    let mut v = Vec::new();
                    if !self.eat(b']') {
                        loop {
                            v.push(self.number()?);
                            if self.eat(b']') {
                                break;
                            }
                            if !self.eat(b',') {
                                return Err("expected ',' or ']'");
                            }
                        }
                    }
                    v
                } else {
                    vec![self.number()?]
                };
                members.push((name, values));
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return Err("expected ',' or '}'");
                }
            }
        }
        self.ws();
        if self.at != self.s.len() {
            return Err("text after the object");
        }
        Ok(members)
    }

    fn string(&mut self) -> Result<String, &'static str> {
        if !self.eat(b'"') {
            return Err("expected a channel name in double quotes");
        }
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.at).ok_or("unterminated string")?;
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.s.get(self.at).ok_or("unterminated string")?;
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        _ => return Err("unsupported escape in a name"),
                    }
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "name is not UTF-8")
    }

    fn number(&mut self) -> Result<f64, &'static str> {
        self.ws();
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or("expected a number")
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn json_lines() {
        let rows =
            parse_json_lines("{\"tx\": 0.5, \"rgb\": [1, -0.5e1, 2]}\n\n{}\n{\"a\\\"b\":[]}\n")
                .expect("json");
        assert_eq!(
            rows,
            vec![
                vec![
                    ("tx".to_string(), vec![0.5]),
                    ("rgb".into(), vec![1.0, -5.0, 2.0])
                ],
                vec![],
                vec![("a\"b".to_string(), vec![])],
            ]
        );
        for (bad, line) in [
            ("{\"a\": \"x\"}", 1),
            ("{\"a\": 1", 1),
            ("\n{\"a\" 1}", 2),
            ("[1]", 1),
            ("{\"a\": 1} x", 1),
            ("{\"a\": [1 2]}", 1),
            ("{\"a", 1),
        ] {
            let e = parse_json_lines(bad).expect_err(bad);
            assert_eq!(e.line, line, "{bad}: {e}");
        }
    }
}
