//! The fuzzing kit every crate's `fuzz` module shares (the other crates include this file
//! by path, `#[path = ".../registry/src/fuzz/kit.rs"]`: it needs nothing but proptest and
//! serde_json, so one copy serves all). Generators start from valid inputs and break them:
//! byte mutations (flip, truncate, delete, insert, splice, repeat, tokens that break
//! parsers, deep nesting) and JSON tree edits (replace any node with an arbitrary value,
//! drop or add a field), so that cases get past the first parser and reach deep.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value};

/// The seed of the case generator in CI: every run draws the same cases, so a red run
/// is reproducible and not the luck of the draw. Explore other cases locally with
/// `PROPTEST_RNG_SEED=<n>` (and more of them with `PROPTEST_CASES`).
pub const CI_SEED: u64 = 12;

/// The runner's configuration: `cases` unless `PROPTEST_CASES` says otherwise (run more
/// locally: `PROPTEST_CASES=100000 cargo test -p atoll-registry fuzz`), [`CI_SEED`]
/// unless `PROPTEST_RNG_SEED` says otherwise. Failures are stored under the crate's
/// `proptest-regressions/` (committed) and replayed first.
pub fn config(cases: u32, source_file: &'static str) -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = proptest::test_runner::RngSeed::Fixed(CI_SEED);
    }
    c.source_file = Some(source_file);
    c.max_shrink_iters = 2048;
    c
}

/// Tokens that break parsers: structure, odd and huge numbers, escapes, unicode that
/// re-encodes differently, YAML sigils and directives, path tricks.
pub const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "null",
    "true",
    "-",
    "0",
    "-0",
    "-0.0",
    "1e400",
    "-1e400",
    "1E2",
    "0.1e1",
    "18446744073709551616",
    "18446744073709551615",
    "9007199254740993",
    "9007199254740991",
    "-9223372036854775809",
    "00",
    "0x1f",
    "1.5",
    ".inf",
    ".nan",
    "NaN",
    "~",
    "\\u0000",
    "\\ud800",
    "\\udc00x",
    "\\u00e9",
    "\\/",
    "\u{0}",
    "\u{1}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{feff}",
    "\u{2028}",
    "\u{202e}",
    "é",
    "e\u{301}",
    "😀",
    "\u{10ffff}",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!tag ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "\n- ",
    "\n  ",
    "\n    - ",
    "\t",
    "\r\n",
    "\r",
    "# ",
    "'",
    "|\n",
    ">-\n",
    "? ",
    "@",
    "`",
    "did:key:z6Mk",
    "atoll:entry:",
    "atoll/entry/v1",
    "sha256:",
    "../",
    "./",
    "/",
    "//",
];

/// One change to a byte string. Indices are proportional ([`Index`]), so a mutation
/// applies to an input of any length and shrinks well.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR one byte.
    Flip(Index, u8),
    /// Set one byte.
    Set(Index, u8),
    /// Keep only a prefix.
    Truncate(Index),
    /// Remove up to `n` bytes.
    Delete(Index, usize),
    /// Insert bytes.
    Insert(Index, Vec<u8>),
    /// Insert one of [`TOKENS`].
    Token(Index, Index),
    /// Copy a piece of the input elsewhere in it (a field spliced into another place).
    Splice(Index, usize, Index),
    /// Repeat a piece many times (long strings, many fields, many list items).
    Repeat(Index, usize, usize),
    /// Open (and maybe close) brackets many levels deep.
    Nest(Index, usize, bool),
}

/// One arbitrary [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Token(i, t)),
        2 => (any::<Index>(), 1..256usize, any::<Index>())
            .prop_map(|(from, n, to)| Mutation::Splice(from, n, to)),
        1 => (any::<Index>(), 1..32usize, 2..2000usize)
            .prop_map(|(i, n, times)| Mutation::Repeat(i, n, times)),
        1 => (any::<Index>(), 1..400usize, any::<bool>())
            .prop_map(|(i, depth, close)| Mutation::Nest(i, depth, close)),
    ]
}

/// Apply mutations in order.
pub fn apply(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = input.to_vec();
    for m in mutations {
        // A position in 0..=len (an insertion point) and one in 0..len (a byte).
        let at = |i: &Index, len: usize| i.index(len + 1);
        match m {
            Mutation::Flip(i, x) if !b.is_empty() => {
                let p = i.index(b.len());
                b[p] ^= x;
            }
            Mutation::Set(i, x) if !b.is_empty() => {
                let p = i.index(b.len());
                b[p] = *x;
            }
            Mutation::Truncate(i) => b.truncate(i.index(b.len() + 1)),
            Mutation::Delete(i, n) if !b.is_empty() => {
                let p = i.index(b.len());
                let end = (p + n).min(b.len());
                b.drain(p..end);
            }
            Mutation::Insert(i, bytes) => {
                let p = at(i, b.len());
                b.splice(p..p, bytes.iter().copied());
            }
            Mutation::Token(i, t) => {
                let p = at(i, b.len());
                let tok = TOKENS[t.index(TOKENS.len())].as_bytes();
                b.splice(p..p, tok.iter().copied());
            }
            Mutation::Splice(from, n, to) if !b.is_empty() => {
                let s = from.index(b.len());
                let piece = b[s..(s + n).min(b.len())].to_vec();
                let p = at(to, b.len());
                b.splice(p..p, piece);
            }
            Mutation::Repeat(i, n, times) if !b.is_empty() => {
                let s = i.index(b.len());
                let piece = b[s..(s + n).min(b.len())].to_vec();
                let more = piece.repeat(*times);
                b.splice(s..s, more);
            }
            Mutation::Nest(i, depth, close) => {
                let p = at(i, b.len());
                let (open, shut) = if p % 2 == 0 {
                    (b'[', b']')
                } else {
                    (b'{', b'}')
                };
                let mut piece = vec![open; *depth];
                if *close && open == b'[' {
                    piece.extend(std::iter::repeat_n(shut, *depth));
                }
                b.splice(p..p, piece);
            }
            _ => {}
        }
    }
    b
}

/// Bytes that print as an escaped byte string (a failing case stays readable).
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\" ({} bytes)", self.0.escape_ascii(), self.0.len())
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// One of `seeds`, broken by one to four mutations.
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Bytes> {
    (select(seeds), proptest::collection::vec(mutation(), 1..=4))
        .prop_map(|(seed, ms)| Bytes(apply(&seed, &ms)))
}

/// As [`mutated`], as text (invalid UTF-8 replaced, as a `&str` API would see it).
pub fn mutated_text(seeds: Vec<String>) -> impl Strategy<Value = String> {
    mutated(seeds.into_iter().map(String::into_bytes).collect())
        .prop_map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

/// Strings: mostly plausible values of the schemas (names, versions, DIDs, URLs,
/// durations, sizes, paths), else arbitrary unicode (controls included) or very long.
pub fn text() -> impl Strategy<Value = String> {
    const WORDS: &[&str] = &[
        "",
        "web",
        "demo",
        "hello",
        "a",
        "A",
        "-a",
        "a-",
        "x--y",
        "1.0.0",
        "1.0.0-rc.1+build.5",
        "01.0.0",
        "v1",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "did:key:z6Mk",
        "did:key:zQ3s",
        "https://example.org/a",
        "http://example.org",
        "https://",
        "ws://127.0.0.1:1",
        "wss://relay.example.org",
        "ws://[::1]:1/x",
        "ws://user@host",
        "5s",
        "0s",
        "25h",
        "1ms",
        "32Mi",
        "1Gi",
        "0.25",
        "1e9",
        "images/web.oci.tar",
        "icon.svg",
        "../etc/passwd",
        "/etc/shadow",
        "/data",
        "tcp",
        "udp",
        "sctp",
        "NET_BIND_SERVICE",
        "SYS_ADMIN",
        "root",
        "0",
        "65535",
        "MIT",
        "atoll/entry/v1",
        "atoll/publisher/v1",
        "atoll/endorse/v1",
        "atoll/list/v1",
        "atoll/mirror/v1",
    ];
    prop_oneof![
        6 => select(WORDS).prop_map(str::to_owned),
        3 => "\\PC{0,24}",
        2 => any::<String>(),
        1 => (select(WORDS), 100..5000usize).prop_map(|(w, n)| w.repeat(n.max(1) / w.len().max(1))),
    ]
}

/// Numbers at and around every bound the schemas have (ports, 2^53, u64, i64, zero).
pub fn number() -> impl Strategy<Value = Value> {
    const EDGES: &[u64] = &[
        0,
        1,
        2,
        255,
        256,
        1023,
        1024,
        65535,
        65536,
        (1 << 31) - 1,
        1 << 32,
        (1 << 53) - 1,
        1 << 53,
        (1 << 53) + 1,
        i64::MAX as u64,
        u64::MAX,
    ];
    prop_oneof![
        select(EDGES).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        select(&[-1i64, i64::MIN][..]).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        select(&[0.5, -0.0, 1e-300, 1e300, 0.1, 2.5, 1.0, 9007199254740993.0][..])
            .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

/// Keys: the schemas' own field names (so an added field may be a real one in the wrong
/// place), else arbitrary.
pub fn key(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(known).prop_map(str::to_owned),
        1 => text(),
    ]
}

/// An arbitrary JSON value of bounded size, with keys from `known`.
pub fn json(known: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key(known), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A value nested `depth` arrays or objects deep.
pub fn nested(depth: usize, object: bool, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = if object {
            let mut m = Map::new();
            m.insert("a".into(), v);
            Value::Object(m)
        } else {
            Value::Array(vec![v])
        };
    }
    v
}

/// One edit of a JSON tree; nodes are numbered in preorder and picked proportionally.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace a node with a value.
    Replace(Index, Value),
    /// Drop a field of an object (or an item of an array).
    Remove(Index, Index),
    /// Add (or overwrite) a field of an object, or append to an array.
    Add(Index, String, Value),
    /// Replace a node with a very deeply nested value.
    Deep(Index, usize, bool),
    /// Copy one node over another (a valid value in the wrong place).
    Copy(Index, Index),
}

/// One arbitrary [`Edit`], with keys and values drawn from `known`.
pub fn edit(known: &'static [&'static str]) -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), json(known)).prop_map(|(i, v)| Edit::Replace(i, v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(i, k)| Edit::Remove(i, k)),
        2 => (any::<Index>(), key(known), json(known)).prop_map(|(i, k, v)| Edit::Add(i, k, v)),
        1 => (any::<Index>(), 1..200usize, any::<bool>()).prop_map(|(i, d, o)| Edit::Deep(i, d, o)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Copy(a, b)),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// The JSON pointer of the `n`th node in preorder.
fn pointer(root: &Value, mut n: usize) -> String {
    let mut out = String::new();
    let mut cur = root;
    while n > 0 {
        n -= 1;
        let kids: Vec<(String, &Value)> = match cur {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(k, c)| (k.to_string(), c))
                .collect(),
            Value::Object(o) => o
                .iter()
                .map(|(k, c)| (k.replace('~', "~0").replace('/', "~1"), c))
                .collect(),
            _ => break,
        };
        let mut next = None;
        for (k, c) in kids {
            let size = count(c);
            if n < size {
                next = Some((k, c));
                break;
            }
            n -= size;
        }
        let Some((k, c)) = next else { break };
        out.push('/');
        out.push_str(&k);
        cur = c;
    }
    out
}

/// Run `f` on the node `i` picks.
fn with_node(root: &mut Value, i: &Index, f: impl FnOnce(&mut Value)) {
    let p = pointer(root, i.index(count(root)));
    if let Some(node) = root.pointer_mut(&p) {
        f(node);
    }
}

fn get(root: &Value, i: &Index) -> Value {
    let p = pointer(root, i.index(count(root)));
    root.pointer(&p).cloned().unwrap_or(Value::Null)
}

/// Apply tree edits in order.
pub fn edit_tree(value: &Value, edits: &[Edit]) -> Value {
    let mut root = value.clone();
    for e in edits {
        match e {
            Edit::Replace(i, v) => with_node(&mut root, i, |n| *n = v.clone()),
            Edit::Remove(i, k) => with_node(&mut root, i, |n| match n {
                Value::Object(o) if !o.is_empty() => {
                    let key = o.keys().nth(k.index(o.len())).cloned().unwrap_or_default();
                    o.remove(&key);
                }
                Value::Array(a) if !a.is_empty() => {
                    a.remove(k.index(a.len()));
                }
                _ => {}
            }),
            Edit::Add(i, key, v) => with_node(&mut root, i, |n| match n {
                Value::Object(o) => {
                    o.insert(key.clone(), v.clone());
                }
                Value::Array(a) => a.push(v.clone()),
                other => *other = v.clone(),
            }),
            Edit::Deep(i, depth, object) => with_node(&mut root, i, |n| {
                *n = nested(*depth, *object, Value::from(1));
            }),
            Edit::Copy(from, to) => {
                let v = get(&root, from);
                with_node(&mut root, to, |n| *n = v);
            }
        }
    }
    root
}

/// One of `seeds`, changed by one to four tree edits.
pub fn edited(seeds: Vec<Value>, known: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (select(seeds), proptest::collection::vec(edit(known), 1..=4))
        .prop_map(|(seed, edits)| edit_tree(&seed, &edits))
}
