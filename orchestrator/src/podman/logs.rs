//! Container logs: the API sends the Docker multiplexed format (8-byte frame headers:
//! stream, 0, 0, 0, big-endian length) for containers without a TTY.

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// stdout or stderr.
    pub stream: LogStream,
    /// The text, without the trailing newline.
    pub text: String,
}

/// Split a multiplexed log body into lines. A body that is not multiplexed is taken as plain
/// stdout text.
pub fn demux(body: &[u8]) -> Vec<LogLine> {
    let mut frames: Vec<(LogStream, &[u8])> = Vec::new();
    let mut rest = body;
    let mut ok = true;
    while !rest.is_empty() {
        if rest.len() < 8 || !matches!(rest[0], 0..=2) || rest[1..4] != [0, 0, 0] {
            ok = false;
            break;
        }
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + len {
            ok = false;
            break;
        }
        let stream = if rest[0] == 2 {
            LogStream::Stderr
        } else {
            LogStream::Stdout
        };
        frames.push((stream, &rest[8..8 + len]));
        rest = &rest[8 + len..];
    }
    if !ok {
        frames = vec![(LogStream::Stdout, body)];
    }
    let mut out = Vec::new();
    for (stream, data) in frames {
        let text = String::from_utf8_lossy(data);
        for line in text.split_terminator('\n') {
            out.push(LogLine {
                stream,
                text: line.trim_end_matches('\r').to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplexed_frames_split_into_lines() {
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 6];
        body.extend_from_slice(b"a\nbc\n\n");
        body.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        body.extend_from_slice(b"err\n");
        let lines = demux(&body);
        let texts: Vec<_> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
        assert_eq!(
            texts,
            vec![
                (LogStream::Stdout, "a"),
                (LogStream::Stdout, "bc"),
                (LogStream::Stdout, ""),
                (LogStream::Stderr, "err"),
            ]
        );
    }

    #[test]
    fn plain_text_is_kept() {
        let lines = demux(b"hello\nworld\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].text, "world");
    }
}
