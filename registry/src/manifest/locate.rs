//! Best-effort mapping from a field path (`containers[1].ports[0].host`) to the line of a
//! block-style YAML document where it is written, so policy errors can name a line.
//! serde_yaml keeps no spans after parsing; this scans indentation instead. When a path
//! cannot be followed (flow style `{ a: 1 }`), the line of the deepest part found is given.

/// One step of a field path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

struct Line<'a> {
    /// Column of the first character (the dash for a sequence item).
    raw: usize,
    /// Column of the key, after any `- `.
    key_col: usize,
    /// Is this line a sequence item?
    dash: bool,
    /// Text from `key_col`.
    text: &'a str,
}

fn parse_line(s: &str) -> Option<Line<'_>> {
    let raw = s.len() - s.trim_start().len();
    let t = s.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    if let Some(rest) = t
        .strip_prefix("- ")
        .or(if t == "-" { Some("") } else { None })
    {
        let pad = rest.len() - rest.trim_start().len();
        Some(Line {
            raw,
            key_col: raw + 2 + pad,
            dash: true,
            text: rest.trim_start(),
        })
    } else {
        Some(Line {
            raw,
            key_col: raw,
            dash: false,
            text: t,
        })
    }
}

/// The 1-based line where `path` is written in `yaml`, or the closest enclosing line.
pub fn line_of(yaml: &str, path: &str) -> Option<usize> {
    let lines: Vec<Option<Line<'_>>> = yaml.lines().map(parse_line).collect();
    let mut start = 0usize;
    let mut parent: isize = -1;
    let mut best: Option<usize> = None;
    let mut first = true;
    for step in steps(path) {
        let mut found = None;
        match step {
            Step::Key(k) => {
                let mut child_col: Option<usize> = None;
                for (l, line) in lines.iter().enumerate().skip(start) {
                    let Some(line) = line else { continue };
                    if !first && l != start && line.raw as isize <= parent {
                        break;
                    }
                    if (line.key_col as isize) <= parent {
                        continue;
                    }
                    let col = *child_col.get_or_insert(line.key_col);
                    if line.key_col == col
                        && line.text.starts_with(k)
                        && line.text[k.len()..].starts_with(':')
                    {
                        found = Some((l, line.key_col as isize, l + 1));
                        break;
                    }
                }
            }
            Step::Index(i) => {
                let mut item_col: Option<usize> = None;
                let mut n = 0;
                for (l, line) in lines.iter().enumerate().skip(start) {
                    let Some(line) = line else { continue };
                    if l != start && line.raw as isize <= parent && !line.dash {
                        break;
                    }
                    if !line.dash || (line.raw as isize) < parent {
                        continue;
                    }
                    let col = *item_col.get_or_insert(line.raw);
                    if line.raw != col {
                        continue;
                    }
                    if n == i {
                        found = Some((l, line.raw as isize, l));
                        break;
                    }
                    n += 1;
                }
            }
        }
        first = false;
        match found {
            Some((l, p, s)) => {
                best = Some(l + 1);
                parent = p;
                start = s;
            }
            None => break,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
id: demo
name: Demo
containers:
  - name: api
    image:
      archive: images/api.oci.tar
    ports:
      - container: 8080
        host: 80
  - name: web
    ports: [ { container: 80, host: 8080 } ]
    health:
      http:
        port: 80
";

    #[test]
    fn finds_block_style_fields() {
        assert_eq!(line_of(DOC, "id"), Some(1));
        assert_eq!(line_of(DOC, "containers"), Some(3));
        assert_eq!(line_of(DOC, "containers[0]"), Some(4));
        assert_eq!(line_of(DOC, "containers[0].name"), Some(4));
        assert_eq!(line_of(DOC, "containers[0].image.archive"), Some(6));
        assert_eq!(line_of(DOC, "containers[0].ports[0].host"), Some(9));
        assert_eq!(line_of(DOC, "containers[1].name"), Some(10));
        assert_eq!(line_of(DOC, "containers[1].health.http.port"), Some(14));
    }

    #[test]
    fn flow_style_falls_back_to_the_enclosing_line() {
        assert_eq!(line_of(DOC, "containers[1].ports[0].host"), Some(11));
        assert_eq!(line_of(DOC, "nothing"), None);
    }
}
