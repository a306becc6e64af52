//! Every log line goes through the core's redaction
//! ([`attestgate::redact::line`]) before it reaches stderr: ours, and the
//! lines Pingora, h2 and hyper write through the `log` crate (Pingora's
//! `Fail to proxy: … GET /ws?approov-token=eyJ…` prints the request
//! target, where a `query_param` route's token travels). The proxy also
//! gives Pingora a redacted request summary (`Gateway::request_summary`);
//! this filter is the net under everything else.
//!
//! One formatted event is one `write` burst into a [`LineWriter`]; the
//! writer redacts and writes it whole when the event is done (on drop).

use std::io::Write;

/// A `MakeWriter` for `tracing_subscriber::fmt`: stderr, redacted.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedactingStderr;

/// Collects one event's text; redacts and writes it on drop.
#[derive(Debug)]
pub struct LineWriter {
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let clean = attestgate::redact::line(&text);
        // Nowhere to report a failed write to stderr.
        let _ = std::io::stderr().lock().write_all(clean.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            buf: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_redacted_whole() {
        let mut w = RedactingStderr.make_writer_for_test();
        w.write_all(b"GET /ws?approov-token=eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln")
            .unwrap();
        let text = String::from_utf8_lossy(&w.buf).into_owned();
        assert!(attestgate::redact::line(&text).contains("approov-token=[redacted]"));
        w.buf.clear();
    }

    impl RedactingStderr {
        fn make_writer_for_test(&self) -> LineWriter {
            tracing_subscriber::fmt::MakeWriter::make_writer(self)
        }
    }
}
