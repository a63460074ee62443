//! The `q` search grammar of `files.list`: `term op value` combined with `and`, `or`, `not` and parentheses.
//! Strings are single-quoted with `\'` and `\\` escapes.

use chrono::{DateTime, Utc};

use super::{DriveState, File};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// `'value' in field`.
    In(String, String),
    /// `field op value`.
    Cmp(String, Op, Val),
    /// `field has { key='k' and value='v' }`.
    Has(String, String, String),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `contains`.
    Contains,
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// `'text'`.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Num(f64),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(Op),
    LParen,
    RParen,
    LBrace,
    RBrace,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            '{' => {
                out.push(Tok::LBrace);
                i += 1
            }
            '}' => {
                out.push(Tok::RBrace);
                i += 1
            }
            '\'' | '"' => {
                let quote = ch;
                i += 1;
                let mut v = String::new();
                loop {
                    if i >= c.len() {
                        return Err("unterminated string".into());
                    }
                    match c[i] {
                        '\\' if i + 1 < c.len() => {
                            v.push(c[i + 1]);
                            i += 2
                        }
                        x if x == quote => {
                            i += 1;
                            break;
                        }
                        x => {
                            v.push(x);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2
            }
            '<' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Le));
                i += 2
            }
            '>' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ge));
                i += 2
            }
            '<' => {
                out.push(Tok::Op(Op::Lt));
                i += 1
            }
            '>' => {
                out.push(Tok::Op(Op::Gt));
                i += 1
            }
            x if x.is_ascii_digit() || x == '-' => {
                let st = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                    i += 1;
                }
                let t: String = c[st..i].iter().collect();
                out.push(Tok::Num(t.parse().map_err(|_| format!("bad number {t}"))?));
            }
            x if x.is_alphabetic() || x == '_' => {
                let st = i;
                while i < c.len() && (c[i].is_alphanumeric() || matches!(c[i], '_' | '.')) {
                    i += 1;
                }
                let w: String = c[st..i].iter().collect();
                if w == "contains" {
                    out.push(Tok::Op(Op::Contains));
                } else {
                    out.push(Tok::Ident(w));
                }
            }
            x => return Err(format!("unexpected character {x:?}")),
        }
    }
    Ok(out)
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn kw(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == w)
    }
    fn expect_kw(&mut self, w: &str) -> Result<(), String> {
        if self.kw(w) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {w}"))
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.kw("or") {
            self.i += 1;
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        while self.kw("and") {
            self.i += 1;
            l = Expr::And(Box::new(l), Box::new(self.unary()?));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.kw("not") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or()?;
            if self.next() != Some(Tok::RParen) {
                return Err("expected )".into());
            }
            return Ok(e);
        }
        self.cond()
    }
    fn cond(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Str(v)) => {
                self.expect_kw("in")?;
                match self.next() {
                    Some(Tok::Ident(f))
                        if matches!(f.as_str(), "parents" | "owners" | "writers" | "readers") =>
                    {
                        Ok(Expr::In(v, f))
                    }
                    other => Err(format!("bad collection {other:?}")),
                }
            }
            Some(Tok::Ident(f)) => {
                if self.kw("has") {
                    self.i += 1;
                    if self.next() != Some(Tok::LBrace) {
                        return Err("expected {".into());
                    }
                    self.expect_kw("key")?;
                    if self.next() != Some(Tok::Op(Op::Eq)) {
                        return Err("expected =".into());
                    }
                    let Some(Tok::Str(k)) = self.next() else {
                        return Err("expected key string".into());
                    };
                    self.expect_kw("and")?;
                    self.expect_kw("value")?;
                    if self.next() != Some(Tok::Op(Op::Eq)) {
                        return Err("expected =".into());
                    }
                    let Some(Tok::Str(v)) = self.next() else {
                        return Err("expected value string".into());
                    };
                    if self.next() != Some(Tok::RBrace) {
                        return Err("expected }".into());
                    }
                    return Ok(Expr::Has(f, k, v));
                }
                let Some(Tok::Op(op)) = self.next() else {
                    return Err(format!("expected operator after {f}"));
                };
                let val = match self.next() {
                    Some(Tok::Str(s)) => Val::Str(s),
                    Some(Tok::Num(n)) => Val::Num(n),
                    Some(Tok::Ident(w)) if w == "true" => Val::Bool(true),
                    Some(Tok::Ident(w)) if w == "false" => Val::Bool(false),
                    other => return Err(format!("bad value {other:?}")),
                };
                check_term(&f, op, &val)?;
                Ok(Expr::Cmp(f, op, val))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn check_term(f: &str, op: Op, v: &Val) -> Result<(), String> {
    let ok = match f {
        "name" | "mimeType" => {
            matches!(op, Op::Eq | Op::Ne | Op::Contains) && matches!(v, Val::Str(_))
        }
        "fullText" => op == Op::Contains,
        "modifiedTime" | "createdTime" | "viewedByMeTime" | "sharedWithMeTime" => {
            op != Op::Contains && matches!(v, Val::Str(_))
        }
        "trashed" | "starred" | "sharedWithMe" | "hidden" => {
            matches!(op, Op::Eq | Op::Ne) && matches!(v, Val::Bool(_))
        }
        "visibility" | "shortcutDetails.targetId" => matches!(op, Op::Eq | Op::Ne),
        "memberCount" | "organizerCount" => op != Op::Contains,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid term {f}"))
    }
}

/// Parses a `q` string.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = P { t: lex(s)?, i: 0 };
    let e = p.or()?;
    if p.i != p.t.len() {
        return Err("trailing tokens".into());
    }
    Ok(e)
}

fn cmp_ord<T: PartialOrd>(a: T, op: Op, b: T) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Contains => false,
    }
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.to_utc())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// The folders every match must be in one of, when the query requires it (`'ID' in parents`, or several
/// such terms joined by `or`, joined by `and` at the top, as a batched recursive listing asks): files.list
/// then looks at those folders' children instead of every file.
pub fn required_parents(e: &Expr) -> Option<Vec<&str>> {
    match e {
        Expr::In(v, coll) if coll == "parents" => Some(vec![v.as_str()]),
        Expr::And(a, b) => required_parents(a).or_else(|| required_parents(b)),
        Expr::Or(a, b) => {
            let mut both = required_parents(a)?;
            both.extend(required_parents(b)?);
            Some(both)
        }
        _ => None,
    }
}

/// Whether file `f` matches `e`.
pub fn matches(e: &Expr, f: &File, st: &DriveState) -> bool {
    match e {
        Expr::And(a, b) => matches(a, f, st) && matches(b, f, st),
        Expr::Or(a, b) => matches(a, f, st) || matches(b, f, st),
        Expr::Not(a) => !matches(a, f, st),
        Expr::In(v, coll) => match coll.as_str() {
            "parents" => {
                let id = st.real_id(v);
                f.parents.iter().any(|p| p == id)
            }
            "owners" | "writers" => {
                f.drive_id.is_none() && v == crate::DEMO_USER
                    || f.permissions.iter().any(|p| {
                        p.email.as_deref() == Some(v.as_str())
                            && (coll == "writers" && p.role == "writer")
                    })
            }
            "readers" => {
                v == crate::DEMO_USER
                    || f.permissions
                        .iter()
                        .any(|p| p.email.as_deref() == Some(v.as_str()))
            }
            _ => false,
        },
        Expr::Has(field, k, v) => {
            let map = if field == "appProperties" {
                &f.app_properties
            } else {
                &f.properties
            };
            map.get(k) == Some(v)
        }
        Expr::Cmp(field, op, val) => match (field.as_str(), val) {
            ("name", Val::Str(s)) => match op {
                Op::Contains => f.name.to_lowercase().contains(&s.to_lowercase()),
                _ => cmp_ord(f.name.as_str(), *op, s.as_str()),
            },
            ("mimeType", Val::Str(s)) => match op {
                Op::Contains => f.mime.contains(s.as_str()),
                _ => cmp_ord(f.mime.as_str(), *op, s.as_str()),
            },
            ("fullText", Val::Str(s)) => {
                let s = s.to_lowercase();
                f.name.to_lowercase().contains(&s)
                    || f.description
                        .as_ref()
                        .is_some_and(|d| d.to_lowercase().contains(&s))
                    || f.doc_text
                        .as_ref()
                        .is_some_and(|d| d.to_lowercase().contains(&s))
            }
            ("modifiedTime" | "viewedByMeTime", Val::Str(s)) => {
                time(s).is_some_and(|t| cmp_ord(f.modified, *op, t))
            }
            ("createdTime", Val::Str(s)) => time(s).is_some_and(|t| cmp_ord(f.created, *op, t)),
            ("trashed", Val::Bool(b)) => cmp_ord(st.is_trashed(f), *op, *b),
            ("starred", Val::Bool(b)) => cmp_ord(f.starred, *op, *b),
            ("sharedWithMe", Val::Bool(b)) => cmp_ord(false, *op, *b),
            ("visibility", Val::Str(s)) => {
                let vis = if f.permissions.iter().any(|p| p.kind == "anyone") {
                    if f.permissions
                        .iter()
                        .any(|p| p.kind == "anyone" && p.allow_discovery == Some(true))
                    {
                        "anyoneCanFind"
                    } else {
                        "anyoneWithLink"
                    }
                } else {
                    "limited"
                };
                cmp_ord(vis, *op, s.as_str())
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typical_queries() {
        let e = parse(r"'root' in parents and trashed = false and name = 'a\'b.txt'").unwrap();
        match e {
            Expr::And(l, r) => {
                assert_eq!(
                    *r,
                    Expr::Cmp("name".into(), Op::Eq, Val::Str("a'b.txt".into()))
                );
                assert!(matches!(*l, Expr::And(_, _)));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            parse("mimeType = 'application/vnd.google-apps.folder' or not starred = true").is_ok()
        );
        assert!(parse("(name contains 'x' or fullText contains 'y') and modifiedTime > '2012-06-04T12:00:00-08:00'").is_ok());
        assert!(parse("properties has { key='k' and value='v' }").is_ok());
        assert!(parse(r"name = 'back\\slash'").is_ok());
        assert!(parse("name = ").is_err());
        assert!(parse("foo = 'x'").is_err());
        assert!(parse("'x' in parents and").is_err());
        assert!(parse("name = 'unterminated").is_err());
        assert!(parse("trashed = 'yes'").is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn any_query_parses_or_is_refused(
            q in "(('[^']{0,6}'|name|parents|trashed|mimeType|modifiedTime|in|and|or|not|contains|=|!=|<|>|<=|>=|\\(|\\)|true|false|[0-9]{1,3}| |\\\\'){0,12})|\\PC{0,40}"
        ) {
            let _ = parse(&q);
        }
    }
}
