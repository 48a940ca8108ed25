//! Writing results: stdout for the result (text or JSON), stderr for progress and errors.
//! A closed pipe (`ecs-rollback status … | head`) is not an error.

use std::io::{IsTerminal, Write};

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

/// The width output is fitted to: `COLUMNS` when set (a positive number), else the terminal's
/// when stdout is one; `None` (no fitting, every column whole) otherwise.
pub fn width() -> Option<usize> {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    if let Some(c) = columns {
        return Some(c);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    dialoguer::console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| cols as usize)
        .filter(|c| *c > 0)
}

/// How a table gives up width, step by step, until it fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Leave the column (by header index) out.
    Drop(usize),
    /// Cut the column's cells to no less than this many characters, with "…".
    Shrink(usize, usize),
    /// As `Shrink`, keeping the end ("…family:12": a revision keeps its number).
    ShrinkLeft(usize, usize),
}

/// Cut `text` to `width` characters keeping its end, the first one "…".
pub fn cut_left(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let kept: String = text.chars().skip(len - (width - 1)).collect();
    format!("…{kept}")
}

/// Cut `text` to `width` characters, the last one "…".
pub fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let kept: String = text.chars().take(width - 1).collect();
    format!("{}…", kept.trim_end())
}

/// [`table`] fitted to `width` (none: [`table`] itself): the `steps` are taken in order while a
/// line is too wide; a line still too wide after all of them is cut.
pub fn table_fit(
    headers: &[&str],
    rows: &[Vec<String>],
    width: Option<usize>,
    steps: &[Fit],
) -> String {
    let Some(width) = width else {
        return table(headers, rows);
    };
    let n = headers.len();
    let cell_width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map(|c| c.chars().count()).unwrap_or(0))
            .chain(std::iter::once(headers[i].chars().count()))
            .max()
            .unwrap_or(0)
    };
    // Columns with no header and no content are left out, as `table` does.
    let mut widths: Vec<Option<usize>> = (0..n)
        .map(|i| {
            let w = cell_width(i);
            (w > 0).then_some(w)
        })
        .collect();
    let total = |widths: &[Option<usize>]| {
        let shown: Vec<usize> = widths.iter().flatten().copied().collect();
        shown.iter().sum::<usize>() + 2 * shown.len().saturating_sub(1)
    };
    let mut left = vec![false; n];
    for step in steps {
        let excess = total(&widths).saturating_sub(width);
        if excess == 0 {
            break;
        }
        match *step {
            Fit::Drop(i) if i < n => widths[i] = None,
            Fit::Shrink(i, min) | Fit::ShrinkLeft(i, min) if i < n => {
                if let Some(w) = widths[i] {
                    widths[i] = Some(w.saturating_sub(excess).max(min).min(w));
                }
                if matches!(step, Fit::ShrinkLeft(..)) {
                    left[i] = true;
                }
            }
            _ => {}
        }
    }
    let shown: Vec<(usize, usize)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .collect();
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (k, ((i, w), cell)) in shown.iter().zip(&cells).enumerate() {
            let cell = if left[*i] {
                cut_left(cell, *w)
            } else {
                cut(cell, *w)
            };
            let len = cell.chars().count();
            s.push_str(&cell);
            if k + 1 < shown.len() {
                s.push_str(&" ".repeat(w - len + 2));
            }
        }
        cut(s.trim_end(), width) + "\n"
    };
    let pick = |cells: &dyn Fn(usize) -> String| shown.iter().map(|(i, _)| cells(*i)).collect();
    let mut out = line(pick(&|i| headers[i].to_string()));
    for row in rows {
        out.push_str(&line(pick(&|i| row.get(i).cloned().unwrap_or_default())));
    }
    out
}

/// `text` wrapped at spaces to lines of at most `width` characters (a longer word is split);
/// lines after the first begin with `indent` (counted in the width).
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let indent_len = indent.chars().count();
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut len = 0usize;
    let room = |lines: &Vec<String>| {
        if lines.is_empty() {
            width.max(1)
        } else {
            width.saturating_sub(indent_len).max(1)
        }
    };
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let avail = room(&lines);
            let need = if len == 0 {
                word.len()
            } else {
                len + 1 + word.len()
            };
            if need <= avail {
                if len > 0 {
                    current.push(' ');
                    len += 1;
                }
                current.extend(word.iter());
                len += word.len();
                break;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut current));
                len = 0;
                continue;
            }
            // A word longer than a line: split it.
            let rest = word.split_off(avail);
            lines.push(word.iter().collect());
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if len > 0 || lines.is_empty() {
        lines.push(current);
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { l } else { format!("{indent}{l}") })
        .collect()
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
    fn tables_fit_a_width_by_dropping_then_cutting() {
        let rows = vec![
            vec![
                "web:12".into(),
                "a-very-long-image:abc".into(),
                "x".into(),
                "[running]".into(),
            ],
            vec!["web:11".into(), "img:1".into(), "y".into(), "".into()],
        ];
        let headers = ["REV", "IMAGE", "Z", "MARK"];
        let full = table_fit(&headers, &rows, None, &[]);
        assert_eq!(full, table(&headers, &rows));
        let fitted = table_fit(
            &headers,
            &rows,
            Some(30),
            &[Fit::Drop(2), Fit::Shrink(1, 8)],
        );
        assert!(fitted.lines().all(|l| l.chars().count() <= 30), "{fitted}");
        assert!(
            fitted.contains("[running]") && !fitted.contains(" Z "),
            "{fitted}"
        );
        assert!(fitted.contains("…"), "{fitted}");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut_left("hello-world:12", 8), "…orld:12");
    }

    #[test]
    fn text_wraps_with_a_hanging_indent() {
        let lines = wrap("one two three four", 9, "  ");
        assert_eq!(lines, vec!["one two", "  three", "  four"]);
        let lines = wrap("abcdefghij", 4, "");
        assert_eq!(lines, vec!["abcd", "efgh", "ij"]);
        assert!(wrap("", 10, "  ") == vec![String::new()]);
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
