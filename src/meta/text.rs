//! The text forms of metadata used by properties and messages: a table as `a,b;c,d` (rows split by
//! `;`, cells by `,`), and a CSV file of per-frame channel values.

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
