//! ANSI escape sequences in log lines, rendered as HTML: SGR colours and attributes become
//! `<span>`s with classes (`ansi-fg-1`, `ansi-bold`, ...; the 256-colour palette is in the
//! stylesheet, 24-bit colours map to its nearest entry), every other escape sequence and
//! control character is dropped, and a carriage return keeps what was printed after it (a
//! progress bar shows its last state). Each line starts with the default style.
//!
//! `assets/app.js` renders live lines with the same rules and the same classes.

use std::fmt::Write;

use super::html::esc_into;

/// The look of the text at one point of a line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    inverse: bool,
}

impl Style {
    /// Applies one SGR sequence's parameters (`1;31`, `38;5;208`, `38;2;255;0;0`, ...).
    fn apply(&mut self, params: &str) {
        let codes: Vec<u32> = params
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                7 => self.inverse = true,
                9 => self.strike = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                27 => self.inverse = false,
                29 => self.strike = false,
                c @ 30..=37 => self.fg = Some((c - 30) as u8),
                c @ 40..=47 => self.bg = Some((c - 40) as u8),
                c @ 90..=97 => self.fg = Some((c - 90 + 8) as u8),
                c @ 100..=107 => self.bg = Some((c - 100 + 8) as u8),
                39 => self.fg = None,
                49 => self.bg = None,
                c @ (38 | 48) => {
                    let (colour, used) = extended_colour(&codes[i + 1..]);
                    if c == 38 {
                        self.fg = colour.or(self.fg);
                    } else {
                        self.bg = colour.or(self.bg);
                    }
                    i += used;
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// The classes of a span in this style (empty for the default style).
    fn classes(&self) -> String {
        let mut out = String::new();
        let (fg, bg) = if self.inverse {
            (
                self.bg.map_or("inv".to_owned(), |c| c.to_string()),
                self.fg.map_or("inv".to_owned(), |c| c.to_string()),
            )
        } else {
            (
                self.fg.map_or(String::new(), |c| c.to_string()),
                self.bg.map_or(String::new(), |c| c.to_string()),
            )
        };
        let mut add = |class: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(class);
        };
        if !fg.is_empty() {
            add(&format!("ansi-fg-{fg}"));
        }
        if !bg.is_empty() {
            add(&format!("ansi-bg-{bg}"));
        }
        for (on, class) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
            (self.strike, "ansi-strike"),
        ] {
            if on {
                add(class);
            }
        }
        out
    }
}

/// After `38`/`48`: `5;N` or `2;R;G;B`. Returns the palette index and how many parameters
/// it took.
fn extended_colour(rest: &[u32]) -> (Option<u8>, usize) {
    match rest {
        [5, n, ..] => (u8::try_from(*n).ok(), 2),
        [2, r, g, b, ..] => (
            Some(nearest_palette(
                (*r).min(255) as u8,
                (*g).min(255) as u8,
                (*b).min(255) as u8,
            )),
            4,
        ),
        [5] => (None, 1),
        [2, ..] => (None, rest.len()),
        _ => (None, 0),
    }
}

/// The 6×6×6 cube's channel levels in xterm's 256-colour palette.
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The entry of xterm's palette (16–255) nearest to a 24-bit colour.
fn nearest_palette(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| -> usize {
        (0..6)
            .min_by_key(|&i| (i32::from(CUBE[i]) - i32::from(v)).abs())
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube = (16 + 36 * ri + 6 * gi + bi) as u8;
    let dist = |a: [u8; 3]| -> i32 {
        [(a[0], r), (a[1], g), (a[2], b)]
            .iter()
            .map(|&(x, y)| (i32::from(x) - i32::from(y)).pow(2))
            .sum()
    };
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let gray_index = (avg.saturating_sub(8) / 10).min(23) as u8;
    let gray = 8 + 10 * gray_index;
    if dist([gray; 3]) < dist([CUBE[ri], CUBE[gi], CUBE[bi]]) {
        232 + gray_index
    } else {
        cube
    }
}

/// The RGB of palette entry `n`.
pub fn palette(n: u8) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0x4d, 0x4d, 0x4d),
        (0xf1, 0x4c, 0x4c),
        (0x23, 0xd1, 0x8b),
        (0xe5, 0xe5, 0x10),
        (0x3b, 0x8e, 0xea),
        (0xd6, 0x70, 0xd6),
        (0x29, 0xb8, 0xdb),
        (0xcc, 0xcc, 0xcc),
        (0x80, 0x80, 0x80),
        (0xff, 0x6b, 0x6b),
        (0x5a, 0xf7, 0x8e),
        (0xff, 0xfa, 0x65),
        (0x6c, 0xb6, 0xff),
        (0xff, 0x77, 0xff),
        (0x5e, 0xe6, 0xf5),
        (0xff, 0xff, 0xff),
    ];
    match n {
        0..=15 => BASE[n as usize],
        16..=231 => {
            let i = n - 16;
            (
                CUBE[(i / 36) as usize],
                CUBE[((i / 6) % 6) as usize],
                CUBE[(i % 6) as usize],
            )
        }
        _ => {
            let v = 8 + 10 * (n - 232);
            (v, v, v)
        }
    }
}

/// The stylesheet rules of the 256 colours, as foreground and background.
pub fn palette_css() -> String {
    let mut out = String::with_capacity(256 * 80);
    for n in 0..=255u8 {
        let (r, g, b) = palette(n);
        let _ = writeln!(
            out,
            ".ansi-fg-{n}{{color:#{r:02x}{g:02x}{b:02x}}}.ansi-bg-{n}{{background-color:#{r:02x}{g:02x}{b:02x}}}"
        );
    }
    out
}

/// What a line shows: after its last carriage return (unless that ends it).
fn visible_part(text: &str) -> &str {
    let trimmed = text.trim_end_matches('\r');
    trimmed.rsplit('\r').next().unwrap_or(trimmed)
}

/// One log line's text as HTML, appended to `out`: escaped, with styled runs in spans.
pub fn line_to_html(out: &mut String, text: &str) {
    let text = visible_part(text);
    let mut style = Style::default();
    let mut open = false;
    let mut chars = text.char_indices().peekable();
    let mut plain_start = 0;
    let flush = |out: &mut String, piece: &str, style: &Style, open: &mut bool| {
        if piece.is_empty() {
            return;
        }
        if !*open && *style != Style::default() {
            let _ = write!(out, "<span class=\"{}\">", style.classes());
            *open = true;
        }
        esc_into(out, piece);
    };
    while let Some((at, c)) = chars.next() {
        if c != '\u{1b}' && (c == '\t' || !c.is_control()) {
            continue;
        }
        flush(out, &text[plain_start..at], &style, &mut open);
        let mut end = at + c.len_utf8();
        if c == '\u{1b}' {
            match chars.peek().map(|&(_, c)| c) {
                Some('[') => {
                    chars.next();
                    let params_start = end + 1;
                    end = text.len();
                    let mut params_end = text.len();
                    let mut final_byte = None;
                    for (i, c) in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            params_end = i;
                            end = i + 1;
                            final_byte = Some(c);
                            break;
                        }
                    }
                    if final_byte == Some('m') {
                        let before = style;
                        style.apply(&text[params_start..params_end]);
                        if style != before && open {
                            out.push_str("</span>");
                            open = false;
                        }
                    }
                }
                Some(']') => {
                    // An operating system command (a title, a hyperlink): up to BEL or ESC \.
                    chars.next();
                    end = text.len();
                    while let Some((i, c)) = chars.next() {
                        if c == '\u{7}' {
                            end = i + 1;
                            break;
                        }
                        if c == '\u{1b}' && chars.peek().map(|&(_, c)| c) == Some('\\') {
                            chars.next();
                            end = i + 2;
                            break;
                        }
                    }
                }
                Some(_) => {
                    if let Some((i, c)) = chars.next() {
                        end = i + c.len_utf8();
                    }
                }
                None => {}
            }
        }
        plain_start = end;
    }
    flush(out, &text[plain_start..], &style, &mut open);
    if open {
        out.push_str("</span>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let mut out = String::new();
        line_to_html(&mut out, input);
        assert_eq!(out, expected, "for {input:?}");
    }

    #[test]
    fn plain_text_is_escaped() {
        check("hello", "hello");
        check(
            "<script>alert('x')</script>",
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
        );
        check("a\tb", "a\tb");
    }

    #[test]
    fn basic_colours_and_reset() {
        check(
            "\x1b[31mred\x1b[0m plain",
            "<span class=\"ansi-fg-1\">red</span> plain",
        );
        check(
            "\x1b[1;32mbold green\x1b[m",
            "<span class=\"ansi-fg-2 ansi-bold\">bold green</span>",
        );
        check(
            "\x1b[93;44mbright on blue",
            "<span class=\"ansi-fg-11 ansi-bg-4\">bright on blue</span>",
        );
        check(
            "\x1b[31mred \x1b[39mdefault",
            "<span class=\"ansi-fg-1\">red </span>default",
        );
        // A style that ends the line is closed.
        check(
            "\x1b[4munder",
            "<span class=\"ansi-underline\">under</span>",
        );
    }

    #[test]
    fn extended_colours() {
        check(
            "\x1b[38;5;208morange",
            "<span class=\"ansi-fg-208\">orange</span>",
        );
        check(
            "\x1b[48;2;255;0;0mred bg",
            "<span class=\"ansi-bg-196\">red bg</span>",
        );
        check(
            "\x1b[38;2;128;128;128mgray",
            "<span class=\"ansi-fg-244\">gray</span>",
        );
        check(
            "\x1b[7minverse",
            "<span class=\"ansi-fg-inv ansi-bg-inv\">inverse</span>",
        );
    }

    #[test]
    fn other_sequences_and_controls_are_dropped() {
        check("\x1b[2Kcleared\x1b[1A", "cleared");
        check("\x1b]0;title\x07text", "text");
        check("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link");
        check("bell\x07 and \x08back", "bell and back");
        check("cut \x1b[", "cut ");
    }

    #[test]
    fn carriage_returns_keep_the_last_state() {
        check("10%\r50%\r100%", "100%");
        check("done\r", "done");
        check(
            "\x1b[32m10%\r\x1b[32m100%",
            "<span class=\"ansi-fg-2\">100%</span>",
        );
    }

    #[test]
    fn the_palette_is_xterms() {
        assert_eq!(palette(16), (0, 0, 0));
        assert_eq!(palette(196), (255, 0, 0));
        assert_eq!(palette(231), (255, 255, 255));
        assert_eq!(palette(232), (8, 8, 8));
        assert_eq!(palette(255), (238, 238, 238));
        for n in 16..=255 {
            let (r, g, b) = palette(n);
            assert_eq!(nearest_palette(r, g, b), n, "entry {n}");
        }
        let css = palette_css();
        assert!(css.contains(".ansi-fg-1{color:#f14c4c}"));
        assert_eq!(css.lines().count(), 256);
    }
}
