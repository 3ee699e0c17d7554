//! nginx configuration as nginx reads it, as far as these tests need:
//! directives with their arguments and blocks (comments dropped, quotes
//! removed), and the nginx binary of this machine when there is one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One directive: `name args...;` or `name args... { block }`.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub block: Vec<Directive>,
}

impl Directive {
    /// The directives of the block with this name, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Directive> + 'a {
        self.block.iter().filter(move |d| d.name == name)
    }

    /// The one directive of the block with this name (panics on none or several).
    pub fn one(&self, name: &str) -> &Directive {
        let found: Vec<&Directive> = self.block.iter().filter(|d| d.name == name).collect();
        assert_eq!(found.len(), 1, "`{name}` appears {} times in `{} {}`", found.len(), self.name, self.args.join(" "));
        found[0]
    }

    /// The arguments of the block's one `name` directive, joined by spaces.
    pub fn value(&self, name: &str) -> String {
        self.one(name).args.join(" ")
    }
}

/// The file as one top-level block (name `main`).
pub fn parse(text: &str) -> Directive {
    let tokens = tokenize(text);
    let mut at = 0;
    let block = parse_block(&tokens, &mut at, false);
    assert_eq!(at, tokens.len(), "an unmatched `}}` in the nginx configuration");
    Directive { name: "main".into(), args: Vec::new(), block }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Semicolon,
    Open,
    Close,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '#' => while chars.next_if(|&c| c != '\n').is_some() {},
            c if c.is_whitespace() => {
                chars.next();
            }
            ';' | '{' | '}' => {
                chars.next();
                tokens.push(match c {
                    ';' => Token::Semicolon,
                    '{' => Token::Open,
                    _ => Token::Close,
                });
            }
            '"' | '\'' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => word.extend(chars.next()),
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                        None => panic!("an unclosed quote in the nginx configuration"),
                    }
                }
                tokens.push(Token::Word(word));
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !matches!(c, ';' | '{' | '}')) {
                    word.push(c);
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

fn parse_block(tokens: &[Token], at: &mut usize, nested: bool) -> Vec<Directive> {
    let mut block = Vec::new();
    let mut words: Vec<String> = Vec::new();
    while let Some(token) = tokens.get(*at) {
        *at += 1;
        match token {
            Token::Word(w) => words.push(w.clone()),
            Token::Semicolon | Token::Open => {
                assert!(!words.is_empty(), "a `;` or `{{` without a directive in the nginx configuration");
                let name = words.remove(0);
                let inner = if *token == Token::Open { parse_block(tokens, at, true) } else { Vec::new() };
                block.push(Directive { name, args: std::mem::take(&mut words), block: inner });
            }
            Token::Close => {
                assert!(nested && words.is_empty(), "a stray `}}` in the nginx configuration");
                return block;
            }
        }
    }
    assert!(!nested, "an unclosed `{{` in the nginx configuration");
    assert!(words.is_empty(), "a directive without `;` at the end of the nginx configuration");
    block
}

/// An nginx size (`512m`, `64k`, `1g`, bytes) in bytes.
pub fn size(text: &str) -> u64 {
    let text = text.to_ascii_lowercase();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("not an nginx size: {text}"));
    n * match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => panic!("not an nginx size: {text}"),
    }
}

/// An nginx time (`600s`, `10m`, `500ms`, plain seconds) in milliseconds.
pub fn millis(text: &str) -> u64 {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits.parse().unwrap_or_else(|_| panic!("not an nginx time: {text}"));
    n * match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => panic!("not an nginx time: {text}"),
    }
}

/// Where `nginx` is on this machine, if it is installed.
pub fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|bin| bin.is_file())
}

/// `nginx -v` as numbers: `nginx version: nginx/1.22.1` is `[1, 22, 1]`.
pub fn version(bin: &Path) -> Vec<u32> {
    let output = Command::new(bin).arg("-v").output().expect("nginx -v");
    let text = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    let number = text.split("nginx/").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or_default();
    let version: Vec<u32> = number.split('.').map_while(|n| n.parse().ok()).collect();
    assert!(!version.is_empty(), "no version in `nginx -v`: {text}");
    version
}

/// An image tag's version (`nginx:1.28`, `nginx:1.28.0-alpine`), if it names one.
pub fn tag_version(image: &str) -> Option<Vec<u32>> {
    let tag = image.rsplit_once(':')?.1;
    let number = tag.split('-').next()?;
    let version: Vec<u32> = number.split('.').map_while(|n| n.parse().ok()).collect();
    (!version.is_empty() && version.len() == number.split('.').count()).then_some(version)
}

#[test]
fn directives_blocks_quotes_and_units() {
    let conf = parse("a 1; # note\nhttp { upstream u { server x:1 resolve; } location / { h Connection \"\"; } }\n");
    assert_eq!(conf.value("a"), "1");
    let http = conf.one("http");
    assert_eq!(http.one("upstream").args, ["u"]);
    assert_eq!(http.one("upstream").one("server").args, ["x:1", "resolve"]);
    assert_eq!(http.one("location").one("h").args, ["Connection", ""]);
    assert_eq!(size("512m"), 512 << 20);
    assert_eq!(millis("600s"), 600_000);
    assert_eq!(millis("10m"), 600_000);
    assert_eq!(tag_version("nginx:1.28.0-alpine"), Some(vec![1, 28, 0]));
    assert_eq!(tag_version("nginx:stable"), None);
}
