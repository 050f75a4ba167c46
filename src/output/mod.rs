//! The one output layer: every command builds a typed report (serde::Serialize) and this
//! module renders it as a table for people, one JSON document (`--json`) or JSON Lines
//! (`--jsonl`: one object per event, then a summary). Renderers write to `&mut dyn Write`;
//! they format, they never compute.

use std::io::{self, IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::{Error, Result};

/// Version of the JSON contract (docs/json.md). Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Tables and lines for people.
    Table,
    /// One pretty JSON document at the end.
    Json,
    /// One JSON object per event, then a summary object.
    Jsonl,
}

/// Rendering options shared by every command.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Output format.
    pub format: Format,
    /// Emit ANSI colours in tables.
    pub color: bool,
    /// `-q`: only the summary.
    pub quiet: bool,
    /// `-v` count: more detail.
    pub verbose: u8,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Green: a good result.
    pub fn good(&self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Red: a failed check.
    pub fn bad(&self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Yellow: a warning.
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Bold: headings.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Dim: secondary facts.
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// A command's final result.
pub trait Report: Serialize {
    /// Render for people.
    fn write_human(&self, out: &mut dyn Write, style: &Style) -> io::Result<()>;
    /// The exit code this result stands for (0 ok, 1 the target failed the check).
    fn exit_code(&self) -> i32;
}

/// One event of a streaming command (a probe, a syscall, a hop).
pub trait Event: Serialize {
    /// The `type` of the JSON Lines object.
    const KIND: &'static str;
    /// Render as one line (or a few) for people.
    fn write_human(&self, out: &mut dyn Write, style: &Style) -> io::Result<()>;
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    inner: &'a T,
}

/// Writes events and the final report in the chosen format.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    /// The style in force.
    pub style: Style,
}

fn out_err(e: io::Error) -> Error {
    Error::io("write output", e)
}

impl<'a> Printer<'a> {
    /// A printer over `out`.
    pub fn new(out: &'a mut dyn Write, style: Style) -> Self {
        Printer { out, style }
    }

    /// Print one event as it happens (nothing in `--json`, where it is part of the report).
    pub fn event<E: Event>(&mut self, e: &E) -> Result<()> {
        self.event_flush(e, true)
    }

    /// Print one event; flush it now or leave it in the buffer (for output to a file, where
    /// nobody watches it line by line: the final report flushes).
    pub fn event_flush<E: Event>(&mut self, e: &E, flush: bool) -> Result<()> {
        match self.style.format {
            Format::Json => Ok(()),
            Format::Jsonl => {
                serde_json::to_writer(
                    &mut *self.out,
                    &Tagged {
                        kind: E::KIND,
                        inner: e,
                    },
                )
                .map_err(|e| out_err(e.into()))?;
                writeln!(self.out).map_err(out_err)?;
                if flush {
                    self.out.flush().map_err(out_err)?;
                }
                Ok(())
            }
            Format::Table => {
                if !self.style.quiet {
                    e.write_human(self.out, &self.style).map_err(out_err)?;
                    if flush {
                        self.out.flush().map_err(out_err)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Print the final report.
    pub fn report<R: Report>(&mut self, r: &R) -> Result<()> {
        match self.style.format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut *self.out, r).map_err(|e| out_err(e.into()))?;
                writeln!(self.out).map_err(out_err)?;
            }
            Format::Jsonl => {
                serde_json::to_writer(
                    &mut *self.out,
                    &Tagged {
                        kind: "summary",
                        inner: r,
                    },
                )
                .map_err(|e| out_err(e.into()))?;
                writeln!(self.out).map_err(out_err)?;
            }
            Format::Table => r.write_human(self.out, &self.style).map_err(out_err)?,
        }
        self.out.flush().map_err(out_err)
    }

    /// Write a free line for people (table format only; `-q` hides it).
    pub fn note(&mut self, line: &str) -> Result<()> {
        if self.style.format == Format::Table && !self.style.quiet {
            writeln!(self.out, "{line}").map_err(out_err)?;
            self.out.flush().map_err(out_err)?;
        }
        Ok(())
    }
}

/// A table in netlab's house style.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    t
}

/// A spinner on stderr, shown only for people on a terminal.
pub fn spinner(style: &Style, msg: &str) -> ProgressBar {
    if style.format != Format::Table || style.quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    pb
}

/// A progress bar on stderr over `len` steps, shown only for people on a terminal.
pub fn progress(style: &Style, len: u64, msg: &str) -> ProgressBar {
    if style.format != Format::Table || style.quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Format microseconds for people: `41.2µs`, `1.234ms`, `1.50s`; `-` when not measured.
pub fn fmt_us(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(us) if us >= 1_000_000.0 => format!("{:.2}s", us / 1e6),
        Some(us) if us >= 1000.0 => format!("{:.3}ms", us / 1e3),
        Some(us) => format!("{us:.1}µs"),
    }
}

/// Format an optional value, `-` when absent.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct E {
        n: u32,
    }
    impl Event for E {
        const KIND: &'static str = "probe";
        fn write_human(&self, out: &mut dyn Write, _: &Style) -> io::Result<()> {
            writeln!(out, "n={}", self.n)
        }
    }
    #[derive(Serialize)]
    struct R {
        total: u32,
    }
    impl Report for R {
        fn write_human(&self, out: &mut dyn Write, _: &Style) -> io::Result<()> {
            writeln!(out, "total {}", self.total)
        }
        fn exit_code(&self) -> i32 {
            0
        }
    }

    fn render(format: Format, quiet: bool) -> String {
        let mut buf = Vec::new();
        let style = Style {
            format,
            color: false,
            quiet,
            verbose: 0,
        };
        let mut p = Printer::new(&mut buf, style);
        p.event(&E { n: 1 }).unwrap();
        p.event(&E { n: 2 }).unwrap();
        p.report(&R { total: 2 }).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn one_value_three_renderings() {
        assert_eq!(render(Format::Table, false), "n=1\nn=2\ntotal 2\n");
        assert_eq!(render(Format::Table, true), "total 2\n");
        assert_eq!(
            render(Format::Jsonl, false),
            "{\"type\":\"probe\",\"n\":1}\n{\"type\":\"probe\",\"n\":2}\n{\"type\":\"summary\",\"total\":2}\n"
        );
        assert_eq!(render(Format::Json, false), "{\n  \"total\": 2\n}\n");
    }

    #[test]
    fn microseconds_read_well() {
        assert_eq!(fmt_us(None), "-");
        assert_eq!(fmt_us(Some(41.24)), "41.2µs");
        assert_eq!(fmt_us(Some(1234.5)), "1.234ms");
        assert_eq!(fmt_us(Some(1_500_000.0)), "1.50s");
    }
}
