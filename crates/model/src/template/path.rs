//! Property paths (`Resources.Hello.Properties.Handler`) built as a chain on the stack and only
//! turned into text when a diagnostic needs one.

use std::fmt;

#[derive(Clone, Copy, Debug)]
pub enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub fn root(s: &'a str) -> Self {
        Path::Root(s)
    }

    pub fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }

    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    fn write(&self, out: &mut String) {
        match self {
            Path::Root(s) => out.push_str(s),
            Path::Key(p, k) => {
                p.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Path::Index(p, i) => {
                p.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&i.to_string());
            }
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let r = Path::root("Resources");
        let a = r.key("Fn");
        let b = a.index(2);
        assert_eq!(b.to_string(), "Resources.Fn.2");
        let e = Path::root("");
        assert_eq!(e.key("A").to_string(), "A");
    }
}
