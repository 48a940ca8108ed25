//! Writing results: stdout for the result (text or JSON), stderr for progress and errors.
//! A closed pipe (`ecs-rollback status … | head`) is not an error.

use std::io::Write;

use serde_json::Value;

use crate::model::Time;

/// Write the result to stdout; a reader that went away is ignored.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Pretty JSON on stdout, one document.
pub fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    print(&format!("{text}\n"));
}

/// A line on stderr (progress, notes).
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Columns aligned by character count; trailing spaces trimmed; a column with an empty header
/// and no content is left out.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let keep: Vec<bool> = (0..headers.len())
        .map(|i| {
            !headers[i].is_empty() || rows.iter().any(|r| r.get(i).is_some_and(|c| !c.is_empty()))
        })
        .collect();
    let headers: Vec<&str> = headers
        .iter()
        .zip(&keep)
        .filter_map(|(h, k)| k.then_some(*h))
        .collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| c.clone())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.clone());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `2025-06-01 10:02:03` (UTC).
pub fn time(t: &Time) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `sha256:0123456789ab` — enough to tell digests apart in a table.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) if hex.len() > 12 => format!("{algo}:{}", &hex[..12]),
        _ => digest.to_string(),
    }
}

/// `hello-world:4f2a9c1` from `123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/hello-world:4f2a9c1`.
pub fn short_image(image: &str) -> String {
    let (name, suffix) = match image.split_once('@') {
        Some((name, digest)) => (name, format!("@{}", short_digest(digest))),
        None => (image, String::new()),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    format!("{last}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_characters() {
        let t = table(
            &["A", "BB", "C"],
            &[
                vec!["x→y".into(), "1".into(), "".into()],
                vec!["long cell".into(), "22".into(), "z".into()],
            ],
        );
        assert_eq!(
            t, "A          BB  C\nx→y        1\nlong cell  22  z\n",
            "{t}"
        );
    }

    #[test]
    fn images_and_digests_are_shortened() {
        assert_eq!(
            short_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:4f2a9c1"),
            "app:4f2a9c1"
        );
        assert_eq!(
            short_image(&format!("repo/app@sha256:{}", "ab".repeat(32))),
            "app@sha256:abababababab"
        );
        assert_eq!(short_image("nginx"), "nginx");
        assert_eq!(short_digest("sha256:0123"), "sha256:0123");
    }
}
