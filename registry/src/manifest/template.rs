//! Config file templates: text with `{{ … }}` placeholders and nothing else. No loops, no
//! conditions, no filters: every name a template uses is known when the manifest is
//! signed, so `atoll app validate` proves that the node can fill every placeholder, and
//! what a node writes is exactly the text with values put in. That is why this is a small
//! hand-written substitution rather than a template engine.
//!
//! Placeholders: `{{ secrets.NAME }}`, `{{ settings.NAME }}`, `{{ app.id }}`,
//! `{{ app.version }}`, `{{ app.name }}` (the install name), and `{{ "{{" }}` for a
//! literal `{{`. Spaces inside the braces are optional. Any other `{{` is an error.

use std::fmt;

/// What a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// A generated secret of the app, by name.
    Secret(String),
    /// An install-time setting, by name.
    Setting(String),
    /// The manifest's app id.
    AppId,
    /// The manifest's version.
    AppVersion,
    /// The install name.
    AppName,
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(n) => write!(f, "{{{{ secrets.{n} }}}}"),
            Self::Setting(n) => write!(f, "{{{{ settings.{n} }}}}"),
            Self::AppId => f.write_str("{{ app.id }}"),
            Self::AppVersion => f.write_str("{{ app.version }}"),
            Self::AppName => f.write_str("{{ app.name }}"),
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text written as it is.
    Text(&'a str),
    /// A value put in.
    Value(Placeholder),
}

/// Why a template cannot be parsed, and on which of its lines (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template line {line}: {reason}")]
pub struct TemplateError {
    /// Line of the template (1-based).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

fn line_at(text: &str, at: usize) -> usize {
    text[..at].bytes().filter(|b| *b == b'\n').count() + 1
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Split a template into text and placeholders.
pub fn parse(text: &str) -> Result<Vec<Segment<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = 0usize;
    while let Some(found) = text[rest..].find("{{") {
        let open = rest + found;
        if open > rest {
            out.push(Segment::Text(&text[rest..open]));
        }
        let fail = |reason: String| TemplateError {
            line: line_at(text, open),
            reason,
        };
        let inner_start = open + 2;
        let close = text[inner_start..]
            .find("}}")
            .map(|c| inner_start + c)
            .filter(|c| !text[inner_start..*c].contains('\n'))
            .ok_or_else(|| fail("'{{' is not closed by '}}' on the same line".to_owned()))?;
        let inner = text[inner_start..close].trim_matches(' ');
        let shown: String = inner.chars().take(80).collect();
        if inner == "\"{{\"" {
            out.push(Segment::Text("{{"));
        } else {
            let value = match inner.split_once('.') {
                Some(("secrets", n)) if is_name(n) => Placeholder::Secret(n.to_owned()),
                Some(("settings", n)) if is_name(n) => Placeholder::Setting(n.to_owned()),
                Some(("app", "id")) => Placeholder::AppId,
                Some(("app", "version")) => Placeholder::AppVersion,
                Some(("app", "name")) => Placeholder::AppName,
                _ => {
                    return Err(fail(format!(
                        "{{{{ {shown} }}}} is not a placeholder: use secrets.NAME, \
                         settings.NAME, app.id, app.version, app.name, or \"{{{{\" for a literal '{{{{'"
                    )))
                }
            };
            out.push(Segment::Value(value));
        }
        rest = close + 2;
    }
    if rest < text.len() {
        out.push(Segment::Text(&text[rest..]));
    }
    Ok(out)
}

/// The placeholders of a template with the line each is on.
pub fn placeholders(text: &str) -> Result<Vec<(usize, Placeholder)>, TemplateError> {
    let mut line = 1;
    let mut out = Vec::new();
    for seg in parse(text)? {
        match seg {
            Segment::Text(t) => line += t.bytes().filter(|b| *b == b'\n').count(),
            Segment::Value(p) => out.push((line, p)),
        }
    }
    Ok(out)
}

/// Fill a template: `value` gives each placeholder's value, `None` when it has none
/// (returned as the error, naming the placeholder).
pub fn render<'v>(
    text: &str,
    mut value: impl FnMut(&Placeholder) -> Option<&'v str>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len());
    for seg in parse(text).map_err(RenderError::Parse)? {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Value(p) => match value(&p) {
                Some(v) => out.push_str(v),
                None => return Err(RenderError::NoValue(p.to_string())),
            },
        }
    }
    Ok(out)
}

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Not a valid template (the manifest policy refuses those).
    #[error(transparent)]
    Parse(TemplateError),
    /// A placeholder without a value.
    #[error("{0} has no value")]
    NoValue(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn placeholders_are_found_with_their_lines() {
        let t = "[auth]\nuser = {{settings.admin-user}}\npass = {{ secrets.pw }} {{ app.name }}\n";
        let p = placeholders(t).unwrap();
        assert_eq!(
            p,
            vec![
                (2, Placeholder::Setting("admin-user".into())),
                (3, Placeholder::Secret("pw".into())),
                (3, Placeholder::AppName),
            ]
        );
    }

    #[test]
    fn render_fills_every_placeholder_and_keeps_the_rest() {
        let t = "a={{ app.id }}/{{ app.version }} {{ \"{{\" }}x}} }} {";
        let out = render(t, |p| match p {
            Placeholder::AppId => Some("demo"),
            Placeholder::AppVersion => Some("1.0.0"),
            _ => None,
        })
        .unwrap();
        assert_eq!(out, "a=demo/1.0.0 {{x}} }} {");
        let err = render("{{ secrets.x }}", |_| None).unwrap_err();
        assert_eq!(err.to_string(), "{{ secrets.x }} has no value");
    }

    #[test]
    fn a_bad_open_names_its_line() {
        for (t, line, words) in [
            ("ok\n{{ secret.x }}", 2, "not a placeholder"),
            ("ok\nok\n{{ settings.Bad_Name }}", 3, "not a placeholder"),
            ("{{ secrets.x", 1, "not closed"),
            ("{{ secrets.x\n}}", 1, "not closed"),
            ("{{ settings.a | upper }}", 1, "not a placeholder"),
            ("{{ app }}", 1, "not a placeholder"),
            ("{{}}", 1, "not a placeholder"),
        ] {
            let e = parse(t).unwrap_err();
            assert_eq!(e.line, line, "{t:?}");
            assert!(e.reason.contains(words), "{t:?}: {e}");
        }
    }
}
