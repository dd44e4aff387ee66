//! Tokens of an extracted answer: LaTeX and plain-text math read into one small
//! vocabulary, in one linear pass.
//!
//! Spacing and style commands (`\left`, `\,`, `\displaystyle`, `$`) vanish; synonyms meet
//! (`\dfrac`/`\tfrac`/`\cfrac` are `\frac`, `\geq`/`\ge`/`>=`/`≥` are one relation); text
//! inside `\text{}`, `\mbox{}`, `\mathrm{}` becomes words. Thousands separators are read
//! here (`1,000`, `1{,}000`, `12,\!345`, `1 000`), except directly inside `(…)` or `[…]`,
//! where a comma separates items: `(3,500)` is a pair, not 3500.

/// A relation between two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
    Approx,
    In,
}

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// An unsigned decimal: its integer and fraction digits, separators removed.
    Num(String, String),
    /// One letter (a variable): `x`, or a Greek letter by name (`alpha`).
    Letter(String),
    /// A run of two or more letters, or any text from `\text{}`.
    Word(String),
    /// A command read by the parser: `frac`, `sqrt`, `binom`, `pi`, `infty`, a function
    /// name (`sin`), or an unknown command kept as a symbol.
    Cmd(String),
    Open(char),
    Close(char),
    /// `\{` and `\}`.
    OpenSet,
    CloseSet,
    /// `{` and `}`.
    LBrace,
    RBrace,
    Plus,
    Minus,
    PlusMinus,
    Times,
    Divide,
    Caret,
    Underscore,
    Bang,
    Comma,
    Semicolon,
    Bar,
    Percent,
    Degree,
    Amp,
    RowSep,
    Cup,
    Cap,
    Rel(RelOp),
    Begin(String),
    End(String),
    /// `\dots`, `\cdots`, `...`: an answer with an ellipsis is compared as text.
    Ellipsis,
    /// A prime `'`.
    Prime,
    /// `:` (ratios, labels).
    Colon,
}

/// Digits a number may have (about the bits `algebra` allows); longer ones are text.
pub const MAX_DIGITS: usize = 4096;

/// Tokens an answer may have; longer ones are compared as text.
pub const MAX_TOKENS: usize = 2048;

/// Commands recognised after a doubled backslash (`\\\\frac` written through an escaped
/// string): a row break `\\\\` is never followed by one of these.
const ESCAPED_COMMANDS: &[&str] = &[
    "frac", "dfrac", "tfrac", "left", "right", "boxed", "sqrt", "pi", "text", "cdot", "times",
    "le", "ge", "leq", "geq", "neq", "infty", "cup", "in ", "in{", "mathrm", "pm",
];

/// Commands that vanish (spacing, sizing, style).
const SKIP: &[&str] = &[
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "biggl",
    "biggr",
    "displaystyle",
    "textstyle",
    "scriptstyle",
    "quad",
    "qquad",
    "limits",
    "nolimits",
    "mathstrut",
    "strut",
    "hfill",
    "medspace",
    "thinspace",
    "negthinspace",
    "enspace",
    "middle",
    "$",
];

/// Commands whose braced argument is read as text (words), the command dropped.
const TEXT_WRAPPERS: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "textsf",
    "texttt",
    "mbox",
    "mathrm",
    "operatorname",
    "textup",
    "emph",
    "hbox",
];

/// Commands whose braced argument is read as math, the command dropped.
const MATH_WRAPPERS: &[&str] = &[
    "boxed",
    "fbox",
    "mathbf",
    "mathit",
    "mathsf",
    "mathbb",
    "mathcal",
    "bm",
    "boldsymbol",
    "underline",
    "overline",
    "vec",
    "hat",
    "bar",
    "widehat",
    "tilde",
    "widetilde",
    "overrightarrow",
    "color",
];

/// Functions kept whole by the algebra (`\sin x` is the atom `sin(x)`).
pub const FUNCTIONS: &[&str] = &[
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "arccot", "sinh",
    "cosh", "tanh", "coth", "log", "ln", "lg", "exp", "det", "gcd", "lcm", "max", "min", "arg",
    "deg", "Re", "Im",
];

const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

/// Two-letter runs read as words; every other two-letter run is a product (`xy`).
const TWO_LETTER_WORDS: &[&str] = &[
    "or", "cm", "mm", "km", "kg", "mg", "ml", "ft", "yd", "mi", "hr", "is", "of", "to", "no", "in",
    "am", "pm", "ms", "mL", "at", "by", "be", "it", "as", "an", "so", "we", "us", "on", "if",
];

struct Lexer<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    out: Vec<Tok>,
    /// Open groups, innermost last.
    frames: Vec<Frame>,
    /// How many open frames are text wrappers (`\text{…}`).
    text_frames: usize,
}

/// An open group: brackets `(`/`[`, or braces that emitted tokens (math) or not (text).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    Bracket,
    Brace { emitted: bool, text: bool },
}

/// Why an answer could not be read as tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexError;

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn in_text(&self) -> bool {
        self.text_frames > 0
    }

    fn in_brackets(&self) -> bool {
        self.frames.last() == Some(&Frame::Bracket)
    }

    /// Opens braces: tokens are emitted for math groups, not inside or around text.
    fn open_brace(&mut self, text: bool) -> Result<(), LexError> {
        let emitted = !text && !self.in_text();
        self.frames.push(Frame::Brace { emitted, text });
        if text {
            self.text_frames += 1;
        }
        if emitted {
            self.push(Tok::LBrace)?;
        }
        Ok(())
    }

    fn close_brace(&mut self) -> Result<(), LexError> {
        match self.frames.pop() {
            Some(Frame::Brace { emitted, text }) => {
                if text {
                    self.text_frames -= 1;
                }
                if emitted {
                    self.push(Tok::RBrace)?;
                }
                Ok(())
            }
            // an unbalanced "}" or one closing a bracket
            _ => Err(LexError),
        }
    }

    fn push(&mut self, t: Tok) -> Result<(), LexError> {
        if self.out.len() >= MAX_TOKENS {
            return Err(LexError);
        }
        self.out.push(t);
        Ok(())
    }

    fn digits(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A thousands separator followed by exactly three digits (and no fourth): the
    /// separator's length, or 0.
    fn thousands_sep(&self) -> usize {
        let r = self.rest();
        let seps: &[&str] = if self.in_brackets() {
            &["{,}", "\\,", "\\ ", " "]
        } else {
            &[",\\!", ", \\!", "{,}", ",", "\\,", "\\ ", "\\!", " "]
        };
        for sep in seps {
            if let Some(after) = r.strip_prefix(sep) {
                let after = after.trim_start_matches(' ');
                let skip = r.len() - after.len();
                let ab = after.as_bytes();
                if ab.len() >= 3
                    && ab[..3].iter().all(u8::is_ascii_digit)
                    && !ab.get(3).is_some_and(u8::is_ascii_digit)
                {
                    // "1 000" but not "1, 000" with a plain space after a comma
                    if *sep == "," && skip > 1 {
                        continue;
                    }
                    return skip;
                }
            }
        }
        0
    }

    fn number(&mut self) -> Result<(), LexError> {
        let lead = self.digits();
        let mut int = lead.to_owned();
        if !lead.is_empty() && lead.len() <= 3 && !lead.starts_with('0') {
            loop {
                let skip = self.thousands_sep();
                if skip == 0 {
                    break;
                }
                self.i += skip;
                int.push_str(self.digits());
            }
        }
        let mut frac = String::new();
        if self.peek() == Some(b'.') && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
            frac.push_str(self.digits());
        } else if self.peek() == Some(b'.')
            && self.b.get(self.i + 1).is_none_or(|c| *c != b'.')
            && !lead.is_empty()
        {
            self.i += 1; // "5." : a trailing point
        }
        if int.len() + frac.len() > MAX_DIGITS {
            return Err(LexError);
        }
        self.push(Tok::Num(int, frac))?;
        self.e_notation()
    }

    /// `1.5e-3`, `2E+21` after a number: `× 10^{k}` (a letter `e` followed by digits).
    fn e_notation(&mut self) -> Result<(), LexError> {
        if !matches!(self.peek(), Some(b'e' | b'E')) {
            return Ok(());
        }
        let mut j = self.i + 1;
        let neg = self.b.get(j) == Some(&b'-');
        if matches!(self.b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let start = j;
        while self.b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j == start || self.b.get(j).is_some_and(u8::is_ascii_alphabetic) {
            return Ok(());
        }
        let exp = self.s[start..j].to_owned();
        self.i = j;
        self.push(Tok::Times)?;
        self.push(Tok::Num("10".into(), String::new()))?;
        self.push(Tok::Caret)?;
        self.push(Tok::LBrace)?;
        if neg {
            self.push(Tok::Minus)?;
        }
        self.push(Tok::Num(exp, String::new()))?;
        self.push(Tok::RBrace)
    }

    /// The name of the command at `self.i` (after the backslash), consumed.
    fn command(&mut self) -> &'a str {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() => {
                while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                    self.i += 1;
                }
            }
            Some(_) => {
                // one non-letter character: \{ \, \! \\ \%
                let ch = self.rest().chars().next().map_or(1, char::len_utf8);
                self.i += ch;
            }
            None => {}
        }
        &self.s[start..self.i]
    }

    /// Skips `{…}` of a `\begin{array}{cc}` column spec or `\color{red}`.
    fn skip_braced(&mut self) -> Result<(), LexError> {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        if self.peek() != Some(b'{') {
            return Ok(());
        }
        let close = self.rest().find('}').ok_or(LexError)?;
        self.i += close + 1;
        Ok(())
    }

    fn env_name(&mut self) -> Result<String, LexError> {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        if self.peek() != Some(b'{') {
            return Err(LexError);
        }
        let close = self.rest().find('}').ok_or(LexError)?;
        let name = self.s[self.i + 1..self.i + close]
            .trim()
            .trim_end_matches('*');
        self.i += close + 1;
        Ok(name.to_owned())
    }

    /// Opens the argument of a wrapper command: text mode for text wrappers.
    fn open_wrapper(&mut self, text: bool) -> Result<(), LexError> {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        if self.peek() != Some(b'{') {
            return if text { Err(LexError) } else { Ok(()) };
        }
        self.i += 1;
        self.open_brace(text)
    }

    fn backslash(&mut self) -> Result<(), LexError> {
        self.i += 1;
        // "\\frac", "\\left(": a backslash doubled by string escaping, not a row break
        if self.peek() == Some(b'\\')
            && ESCAPED_COMMANDS
                .iter()
                .any(|c| self.rest()[1..].starts_with(c))
        {
            self.i += 1;
        }
        let name = self.command();
        match name {
            "" => return Err(LexError),
            "\\" => return self.push(Tok::RowSep),
            // a comma inside a set separates items, as inside brackets: \{1,100\} is two
            "{" | "lbrace" => {
                self.frames.push(Frame::Bracket);
                return self.push(Tok::OpenSet);
            }
            "}" | "rbrace" => {
                if self.frames.last() == Some(&Frame::Bracket) {
                    self.frames.pop();
                }
                return self.push(Tok::CloseSet);
            }
            "not" | "notin" | "neg" | "lnot" => return self.push(Tok::Word("not".into())),
            "emptyset" | "varnothing" => return self.push(Tok::Cmd("\\emptyset".into())),
            "angle" | "measuredangle" | "triangle" => return Ok(()),
            "," | ";" | ":" | "!" | " " | ">" | "(" | ")" | "[" | "]" | "$" | "\"" => return Ok(()),
            "%" => return self.push(Tok::Percent),
            "&" => return self.push(Tok::Amp),
            "|" => return self.push(Tok::Bar),
            _ => {}
        }
        if SKIP.contains(&name) {
            return Ok(());
        }
        if TEXT_WRAPPERS.contains(&name) {
            // \mathrm{e}, \mathrm{i}: the upright constants are symbols, not units
            let r = self.rest().trim_start_matches(' ').as_bytes();
            if r.len() >= 3 && r[0] == b'{' && matches!(r[1], b'e' | b'i') && r[2] == b'}' {
                let letter = char::from(r[1]).to_string();
                self.i += self.rest().len() - self.rest().trim_start_matches(' ').len() + 3;
                return self.push(Tok::Letter(letter));
            }
            return self.open_wrapper(true);
        }
        if MATH_WRAPPERS.contains(&name) {
            if name == "color" {
                return self.skip_braced();
            }
            return self.open_wrapper(false);
        }
        if GREEK.contains(&name) {
            return self.push(Tok::Letter(format!("\\{name}")));
        }
        if FUNCTIONS.contains(&name) {
            return self.push(Tok::Cmd(name.to_owned()));
        }
        let tok = match name {
            "frac" | "dfrac" | "tfrac" | "cfrac" => Tok::Cmd("frac".into()),
            "binom" | "dbinom" | "tbinom" | "choose" => Tok::Cmd("binom".into()),
            "sum" | "prod" => Tok::Cmd(name.to_owned()),
            "sqrt" => Tok::Cmd("sqrt".into()),
            "pi" => Tok::Cmd("pi".into()),
            "infty" | "infinity" | "inf" => Tok::Cmd("infty".into()),
            "cdot" | "times" | "ast" | "bullet" => Tok::Times,
            "div" => Tok::Divide,
            "pm" => Tok::PlusMinus,
            "le" | "leq" | "leqslant" | "leqq" => Tok::Rel(RelOp::Le),
            "ge" | "geq" | "geqslant" | "geqq" => Tok::Rel(RelOp::Ge),
            "lt" => Tok::Rel(RelOp::Lt),
            "gt" => Tok::Rel(RelOp::Gt),
            "ne" | "neq" => Tok::Rel(RelOp::Ne),
            "approx" | "simeq" | "thickapprox" => Tok::Rel(RelOp::Approx),
            "in" => Tok::Rel(RelOp::In),
            "cup" => Tok::Cup,
            "cap" => Tok::Cap,
            "circ" | "degree" => Tok::Degree,
            "dots" | "cdots" | "ldots" | "dotsb" | "dotsc" | "dotsm" => Tok::Ellipsis,
            "prime" => Tok::Prime,
            "langle" => {
                self.frames.push(Frame::Bracket);
                Tok::Open('<')
            }
            "rangle" => {
                if self.frames.last() == Some(&Frame::Bracket) {
                    self.frames.pop();
                }
                Tok::Close('>')
            }
            "lvert" | "rvert" | "vert" | "mid" => Tok::Bar,
            "begin" => {
                let env = self.env_name()?;
                if env == "array" {
                    self.skip_braced()?;
                }
                Tok::Begin(env)
            }
            "end" => Tok::End(self.env_name()?),
            other => Tok::Cmd(format!("\\{other}")),
        };
        self.push(tok)
    }

    fn letters(&mut self) -> Result<(), LexError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        let run = &self.s[start..self.i];
        // case-sensitive: "NO" is the segment N·O, "no" a word
        // capitals in math are points: "ABC" is the angle or triangle A·B·C
        let points = run.len() <= 4 && run.bytes().all(|c| c.is_ascii_uppercase());
        if self.in_text() || (run.len() >= 3 && !points) || TWO_LETTER_WORDS.contains(&run) {
            return self.push(Tok::Word(run.to_owned()));
        }
        for c in run.chars() {
            self.push(Tok::Letter(c.to_string()))?;
        }
        Ok(())
    }

    fn unicode(&mut self, c: char) -> Result<(), LexError> {
        self.i += c.len_utf8();
        let tok = match c {
            '√' => Tok::Cmd("sqrt".into()),
            'π' => Tok::Cmd("pi".into()),
            '∞' => Tok::Cmd("infty".into()),
            '≤' | '⩽' => Tok::Rel(RelOp::Le),
            '≥' | '⩾' => Tok::Rel(RelOp::Ge),
            '≠' => Tok::Rel(RelOp::Ne),
            '≈' => Tok::Rel(RelOp::Approx),
            '∈' => Tok::Rel(RelOp::In),
            '×' | '·' | '⋅' | '∗' => Tok::Times,
            '÷' => Tok::Divide,
            '−' | '–' => Tok::Minus,
            '±' => Tok::PlusMinus,
            '∪' => Tok::Cup,
            '∩' => Tok::Cap,
            '°' => Tok::Degree,
            '…' => Tok::Ellipsis,
            '²' => {
                self.push(Tok::Caret)?;
                Tok::Num("2".into(), String::new())
            }
            '³' => {
                self.push(Tok::Caret)?;
                Tok::Num("3".into(), String::new())
            }
            '€' | '£' | '¥' | '\u{a0}' | '\u{2009}' | '\u{202f}' => return Ok(()),
            c if c.is_whitespace() => return Ok(()),
            c if c.is_alphabetic() => Tok::Word(c.to_string()),
            _ => return Err(LexError),
        };
        self.push(tok)
    }

    fn run(mut self) -> Result<Vec<Tok>, LexError> {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\n' | b'\t' | b'\r' | b'~' | b'$' | b'"' => self.i += 1,
                b'0'..=b'9' => self.number()?,
                b'.' if self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit) => {
                    self.i += 1;
                    let frac = self.digits().to_owned();
                    if frac.len() > MAX_DIGITS {
                        return Err(LexError);
                    }
                    self.push(Tok::Num(String::new(), frac))?;
                }
                b'.' => {
                    if self.rest().starts_with("...") {
                        self.i += 3;
                        self.push(Tok::Ellipsis)?;
                    } else {
                        self.i += 1; // a full stop
                    }
                }
                b'\\' => self.backslash()?,
                b'a'..=b'z' | b'A'..=b'Z' => self.letters()?,
                b'(' | b'[' => {
                    self.i += 1;
                    self.frames.push(Frame::Bracket);
                    self.push(Tok::Open(char::from(c)))?;
                }
                b')' | b']' => {
                    self.i += 1;
                    // "[0, 1)": a bracket closes whichever bracket is open
                    if self.frames.last() == Some(&Frame::Bracket) {
                        self.frames.pop();
                    }
                    self.push(Tok::Close(char::from(c)))?;
                }
                b'{' => {
                    self.i += 1;
                    self.open_brace(false)?;
                }
                b'}' => {
                    self.i += 1;
                    self.close_brace()?;
                }
                _ => {
                    self.i += 1;
                    let two = |l: &Lexer<'_>, n: u8| l.peek() == Some(n);
                    let tok = match c {
                        b'+' => Tok::Plus,
                        b'-' => Tok::Minus,
                        b'*' => Tok::Times,
                        b'/' => Tok::Divide,
                        b'^' => Tok::Caret,
                        b'_' => Tok::Underscore,
                        b'!' if two(&self, b'=') => {
                            self.i += 1;
                            Tok::Rel(RelOp::Ne)
                        }
                        b'!' => Tok::Bang,
                        b',' => Tok::Comma,
                        b';' => Tok::Semicolon,
                        b'|' => Tok::Bar,
                        b'%' => Tok::Percent,
                        b'&' => Tok::Amp,
                        b'\'' => Tok::Prime,
                        b':' => Tok::Colon,
                        b'=' => Tok::Rel(RelOp::Eq),
                        b'<' if two(&self, b'=') => {
                            self.i += 1;
                            Tok::Rel(RelOp::Le)
                        }
                        b'>' if two(&self, b'=') => {
                            self.i += 1;
                            Tok::Rel(RelOp::Ge)
                        }
                        b'<' => Tok::Rel(RelOp::Lt),
                        b'>' => Tok::Rel(RelOp::Gt),
                        _ if c >= 0x80 => {
                            self.i -= 1;
                            let ch = self.rest().chars().next().ok_or(LexError)?;
                            self.unicode(ch)?;
                            continue;
                        }
                        _ => return Err(LexError),
                    };
                    self.push(tok)?;
                }
            }
        }
        Ok(self.out)
    }
}

/// The tokens of `s`, or an error when it holds something outside the vocabulary or
/// more than [`MAX_TOKENS`] tokens.
pub fn tokenize(s: &str) -> Result<Vec<Tok>, LexError> {
    Lexer {
        s,
        b: s.as_bytes(),
        i: 0,
        out: Vec::new(),
        frames: Vec::new(),
        text_frames: 0,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(i: &str, f: &str) -> Tok {
        Tok::Num(i.into(), f.into())
    }

    #[test]
    fn numbers_and_separators() {
        assert_eq!(tokenize("1,000").unwrap(), vec![num("1000", "")]);
        assert_eq!(tokenize("1{,}000.5").unwrap(), vec![num("1000", "5")]);
        assert_eq!(tokenize("12,\\!345").unwrap(), vec![num("12345", "")]);
        assert_eq!(tokenize("1 000").unwrap(), vec![num("1000", "")]);
        assert_eq!(tokenize(".4").unwrap(), vec![num("", "4")]);
        assert_eq!(
            tokenize("32, 349").unwrap(),
            vec![num("32", ""), Tok::Comma, num("349", "")]
        );
        assert_eq!(
            tokenize("(3,500)").unwrap(),
            vec![
                Tok::Open('('),
                num("3", ""),
                Tok::Comma,
                num("500", ""),
                Tok::Close(')')
            ]
        );
        assert_eq!(
            tokenize("0,100").unwrap(),
            vec![num("0", ""), Tok::Comma, num("100", "")]
        );
    }

    #[test]
    fn commands_and_words() {
        assert_eq!(
            tokenize("\\dfrac12").unwrap(),
            vec![Tok::Cmd("frac".into()), num("12", "")]
        );
        assert_eq!(
            tokenize("x \\geq 5").unwrap(),
            vec![Tok::Letter("x".into()), Tok::Rel(RelOp::Ge), num("5", "")]
        );
        assert_eq!(
            tokenize("5\\text{ cm}").unwrap(),
            vec![num("5", ""), Tok::Word("cm".into())]
        );
        assert_eq!(
            tokenize("xy").unwrap(),
            vec![Tok::Letter("x".into()), Tok::Letter("y".into())]
        );
        assert_eq!(
            tokenize("apples").unwrap(),
            vec![Tok::Word("apples".into())]
        );
        assert!(tokenize("a ? b").is_err());
        assert!(tokenize(&"1+".repeat(MAX_TOKENS)).is_err());
    }
}
