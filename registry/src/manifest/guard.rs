//! A bound on the author's YAML before serde_yaml sees it. serde_yaml expands every alias
//! (`*name`) into a full copy of its anchored node, so a small file can stand for gigabytes
//! (a "billion laughs" bomb), and libyaml under it takes time quadratic in the depth of
//! flow nesting. So the text is first run through a second, streaming parser (yaml-rust2,
//! which emits aliases as events and never expands them), and refused on any anchor or
//! alias, any nesting deeper than [`MAX_DEPTH`] and any syntax error. What passes has no
//! alias and shallow nesting, so what serde_yaml does with it is linear in the input,
//! itself bounded by [`crate::objects::MAX_MANIFEST_BYTES`].

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use super::{Problem, ProblemKind};

/// Deepest nesting of mappings and sequences accepted in a manifest (a real one needs 5).
pub const MAX_DEPTH: usize = 32;

/// Check `text` for anchors, aliases and nesting. `Ok` means serde_yaml may parse it.
pub(super) fn check(text: &str) -> Result<(), Problem> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        // A syntax error is reported from here, never left to serde_yaml: libyaml takes time
        // quadratic in the flow depth of unclosed brackets (a quarter MiB of '[' costs it
        // seconds), and what this parser refuses must not reach it.
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // An alias of an anchor defined nowhere is still an alias.
            Err(e) if e.info().contains("unknown anchor") => return Err(alias(text, e.marker())),
            Err(e) => {
                let mut p = problem(
                    Some(e.marker()),
                    YamlProblem::Invalid(e.info().chars().take(256).collect()),
                );
                // At the end of the input the scanner's mark can be a line past the last
                // one (found by the fuzzing, registry/src/fuzz/regressions.rs).
                p.line = p.line.map(|l| l.min(last_line(text)));
                return Err(p);
            }
        };
        match event {
            Event::StreamEnd => return Ok(()),
            Event::Alias(_) => return Err(alias(text, &mark)),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                return Err(problem(
                    Some(&mark),
                    YamlProblem::Anchor(token_at(text, &mark, '&')),
                ));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(problem(
                        Some(&mark),
                        YamlProblem::TooDeep { max: MAX_DEPTH },
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
}

/// YAML a manifest may not use, found before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum YamlProblem {
    /// Not YAML (the scanner's words, at most 256 characters).
    #[error("invalid YAML: {0}")]
    Invalid(String),
    /// An anchor (`&name`, the token as written, bounded).
    #[error("YAML anchors ({0}) are not allowed in a manifest: write each value out in full")]
    Anchor(String),
    /// An alias (`*name`, the token as written, bounded).
    #[error("YAML aliases ({0}) are not allowed in a manifest: write the value out in full")]
    Alias(String),
    /// Nesting deeper than the limit.
    #[error("nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// The number of the last line of `text` as YAML parsers count lines: `\n`, `\r\n` and a
/// lone `\r` break them, and NEL, LS and PS too for libyaml (YAML 1.1, under serde_yaml);
/// an empty line after a final break counts.
pub(crate) fn last_line(text: &str) -> usize {
    let b = text.as_bytes();
    let breaks = b
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count();
    let unicode = text
        .chars()
        .filter(|c| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count();
    breaks + unicode + 1
}

fn alias(text: &str, mark: &Marker) -> Problem {
    problem(Some(mark), YamlProblem::Alias(token_at(text, mark, '*')))
}

fn problem(mark: Option<&Marker>, yaml: YamlProblem) -> Problem {
    Problem {
        field: String::new(),
        // yaml-rust2 counts lines from 1.
        line: mark.map(|m| m.line().max(1)),
        kind: ProblemKind::Yaml(yaml),
    }
}

/// The `&name` / `*name` token near the event's mark, for the message (bounded: at most
/// 40 characters of the name; `&…`/`*…` when it cannot be found on that line).
fn token_at(text: &str, mark: &Marker, sigil: char) -> String {
    let line = text
        .lines()
        .nth(mark.line().saturating_sub(1))
        .unwrap_or("");
    let found = line.match_indices(sigil).find_map(|(i, _)| {
        let name: String = line[i + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
            .take(40)
            .collect();
        (!name.is_empty()).then_some(name)
    });
    match found {
        Some(name) => format!("{sigil}{name}"),
        None => format!("{sigil}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_yaml_passes_and_stars_in_strings_are_not_aliases() {
        let text =
            "a: 1\nb: [x, \"ls *.txt\", 'a & b']\nc:\n  d: 2 * 3\n  e: |\n    *not an alias\n";
        check(text).unwrap();
        let p = check("a: b\nc: [\n").unwrap_err();
        assert!(p.kind.to_string().starts_with("invalid YAML: "), "{p}");
    }

    #[test]
    fn an_alias_is_refused_naming_its_line() {
        let text = "a: &s hello\nb:\n  - x\n  - *s\n";
        let p = check(text).unwrap_err();
        assert_eq!(p.line, Some(1), "{p}");
        assert!(p.kind.to_string().contains("anchors (&s)"), "{p}");
        // An alias to an anchor that was never defined is refused as well.
        let p = check("a: 1\nb: *nowhere\n").unwrap_err();
        assert_eq!(p.line, Some(2), "{p}");
    }

    #[test]
    fn the_bomb_is_refused_at_its_first_anchor() {
        let mut yaml = String::from("id: x\ndescription: &s \"");
        yaml.push_str(&"x".repeat(200 * 1024));
        yaml.push_str("\"\ncontainers:\n  - &c\n    command: [");
        yaml.push_str(&vec!["*s"; 128].join(", "));
        yaml.push_str("]\n");
        for _ in 0..200 {
            yaml.push_str("  - *c\n");
        }
        let p = check(&yaml).unwrap_err();
        assert_eq!(p.line, Some(2), "{p}");
        assert!(p.kind.to_string().contains("&s"), "{p}");
    }

    #[test]
    fn aliases_alone_and_merge_keys_are_refused() {
        let p = check("base: {a: 1}\nx:\n  <<: *base\n").unwrap_err();
        assert_eq!(p.line, Some(3), "{p}");
        assert!(p.kind.to_string().contains("aliases (*base)"), "{p}");
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        check(&ok).unwrap();
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let p = check(&deep).unwrap_err();
        assert!(p.kind.to_string().contains("nested deeper than 32"), "{p}");
        // Block style counts as well.
        let mut block = String::new();
        for i in 0..=MAX_DEPTH {
            block.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
        }
        block.push_str(&format!("{}v: 1\n", "  ".repeat(MAX_DEPTH + 1)));
        let p = check(&block).unwrap_err();
        assert_eq!(p.line, Some(MAX_DEPTH + 1), "{p}");
    }
}
