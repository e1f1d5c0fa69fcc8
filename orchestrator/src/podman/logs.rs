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

/// Splits a log body that arrives in pieces (a followed log) into lines: frames and lines
/// may be cut anywhere between two pieces. Decides on the first 8 bytes whether the body is
/// multiplexed, like [`demux`]; a line still open when the body ends is given by
/// [`Demuxer::finish`].
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
    plain: Option<bool>,
    open: [Vec<u8>; 2],
}

impl Demuxer {
    /// Take the next piece of the body; the lines it completes.
    pub fn push(&mut self, piece: &[u8]) -> Vec<LogLine> {
        self.buf.extend_from_slice(piece);
        let mut out = Vec::new();
        if self.plain.is_none() && self.buf.len() >= 8 {
            self.plain = Some(!(matches!(self.buf[0], 0..=2) && self.buf[1..4] == [0, 0, 0]));
        }
        match self.plain {
            None => {}
            Some(true) => {
                let data = std::mem::take(&mut self.buf);
                self.take(LogStream::Stdout, &data, &mut out);
            }
            Some(false) => loop {
                if self.buf.len() < 8 {
                    break;
                }
                let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
                    as usize;
                if self.buf.len() < 8 + len {
                    break;
                }
                let stream = if self.buf[0] == 2 {
                    LogStream::Stderr
                } else {
                    LogStream::Stdout
                };
                let frame: Vec<u8> = self.buf.drain(..8 + len).skip(8).collect();
                self.take(stream, &frame, &mut out);
            },
        }
        out
    }

    /// The body ended: what is left as lines (an unterminated last line).
    pub fn finish(mut self) -> Vec<LogLine> {
        let mut out = Vec::new();
        if self.plain != Some(false) && !self.buf.is_empty() {
            let data = std::mem::take(&mut self.buf);
            self.open[0].extend_from_slice(&data);
        }
        for (i, stream) in [(0, LogStream::Stdout), (1, LogStream::Stderr)] {
            if !self.open[i].is_empty() {
                out.push(line(stream, &self.open[i]));
            }
        }
        out
    }

    fn take(&mut self, stream: LogStream, data: &[u8], out: &mut Vec<LogLine>) {
        let open = &mut self.open[usize::from(stream == LogStream::Stderr)];
        for &b in data {
            if b == b'\n' {
                out.push(line(stream, open));
                open.clear();
            } else {
                open.push(b);
            }
        }
    }
}

fn line(stream: LogStream, bytes: &[u8]) -> LogLine {
    LogLine {
        stream,
        text: String::from_utf8_lossy(bytes)
            .trim_end_matches('\r')
            .to_owned(),
    }
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

    #[test]
    fn a_followed_body_cut_anywhere_gives_the_same_lines() {
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 6];
        body.extend_from_slice(b"a\nbc\n\n");
        body.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        body.extend_from_slice(b"err\n");
        body.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 4]);
        body.extend_from_slice(b"last");
        let whole = {
            let mut d = Demuxer::default();
            let mut l = d.push(&body);
            l.extend(d.finish());
            l
        };
        assert_eq!(whole.len(), 5);
        assert_eq!(whole[4].text, "last");
        for cut in 1..body.len() {
            let mut d = Demuxer::default();
            let mut l = d.push(&body[..cut]);
            l.extend(d.push(&body[cut..]));
            l.extend(d.finish());
            assert_eq!(l, whole, "cut at {cut}");
        }
        let mut plain = Demuxer::default();
        let mut l = plain.push(b"hello\nwor");
        l.extend(plain.push(b"ld\nopen"));
        l.extend(plain.finish());
        let texts: Vec<_> = l.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(texts, ["hello", "world", "open"]);
    }
}
