//! Wippy's Lua dialect: Lua with Luau-style type annotations (`local n: number`,
//! `function f<T>(xs: {T}): T?`, `type Point = {...}`, `x :: string`), which Wippy checks
//! statically and erases at run time. We erase them too: the script is parsed with
//! `full_moon` (Lua 5.4 and Luau syntax together), and every type annotation is
//! overwritten with spaces, so Lua 5.4 runs what is left with every line and column where
//! it was (errors point at the script as written).
//!
//! A script `full_moon` cannot parse is handed to Lua unchanged: Lua's own parser then
//! reports the error, as it would have without this step.

use full_moon::ast::luau::{
    ExportedTypeDeclaration, ExportedTypeFunction, GenericDeclaration, TypeAssertion,
    TypeDeclaration, TypeFunction, TypeInstantiation, TypeSpecifier,
};
use full_moon::node::Node;
use full_moon::visitors::Visitor;
use full_moon::LuaVersion;

/// `source` with its type annotations replaced by spaces (newlines kept).
pub fn erase_types(source: &str) -> String {
    let mut result = full_moon::parse_fallible(source, LuaVersion::new());
    let mut source = std::borrow::Cow::Borrowed(source);
    if !result.errors().is_empty() {
        // Wippy also accepts several return types without parentheses
        // (`function f(): string?, string?`), which Luau's grammar does not.
        let Some(unlisted) = blank_return_lists(&source) else {
            return source.into_owned();
        };
        result = full_moon::parse_fallible(&unlisted, LuaVersion::new());
        if !result.errors().is_empty() {
            return source.into_owned();
        }
        source = std::borrow::Cow::Owned(unlisted);
    }
    let source: &str = &source;
    let mut found = Annotations::default();
    found.visit_ast(result.ast());
    if found.ranges.is_empty() {
        return source.to_owned();
    }
    let mut bytes = source.as_bytes().to_vec();
    for (start, end) in found.ranges {
        for b in &mut bytes[start.min(source.len())..end.min(source.len())] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Whole characters were replaced by ASCII spaces, so it is still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|_| source.to_owned())
}

/// `source` with every unparenthesised list of return types (`): A, B` at the end of a
/// line that declares a function) blanked; `None` if there is none.
fn blank_return_lists(source: &str) -> Option<String> {
    let mut out = String::with_capacity(source.len());
    let mut changed = false;
    for line in source.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let list = body
            .contains("function")
            .then(|| body.rfind(')'))
            .flatten()
            .map(|close| (close + 1, &body[close + 1..]))
            .filter(|(_, rest)| {
                let rest = rest.trim_start();
                rest.starts_with(':')
                    && rest.contains(',')
                    && !rest.contains(['(', '=', '"', '\''])
                    && !rest.contains("--")
            });
        match list {
            Some((at, rest)) => {
                changed = true;
                out.push_str(&line[..at]);
                out.extend(std::iter::repeat_n(' ', rest.len()));
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    changed.then_some(out)
}

/// The byte ranges of every type annotation in a script.
#[derive(Default)]
struct Annotations {
    ranges: Vec<(usize, usize)>,
}

impl Annotations {
    /// Every token of `node`, by its own text (the spaces and comments between them stay).
    fn add(&mut self, node: &impl Node) {
        for token in node.tokens() {
            let token = token.token();
            let start = token.start_position().bytes();
            self.ranges.push((start, start + token.to_string().len()));
        }
    }
}

impl Visitor for Annotations {
    fn visit_type_specifier(&mut self, node: &TypeSpecifier) {
        self.add(node);
    }
    fn visit_type_assertion(&mut self, node: &TypeAssertion) {
        self.add(node);
    }
    fn visit_type_declaration(&mut self, node: &TypeDeclaration) {
        self.add(node);
    }
    fn visit_exported_type_declaration(&mut self, node: &ExportedTypeDeclaration) {
        self.add(node);
    }
    fn visit_type_function(&mut self, node: &TypeFunction) {
        self.add(node);
    }
    fn visit_exported_type_function(&mut self, node: &ExportedTypeFunction) {
        self.add(node);
    }
    fn visit_generic_declaration(&mut self, node: &GenericDeclaration) {
        self.add(node);
    }
    fn visit_type_instantiation(&mut self, node: &TypeInstantiation) {
        self.add(node);
    }
}

#[cfg(test)]
mod tests {
    use super::erase_types;

    #[test]
    fn annotations_become_spaces_and_lines_stay_where_they_were() {
        let typed = "type Point = {x: number, y: number}\nexport type Pair<T> = {first: T, second: T}\nlocal function first<T>(xs: {T}): T?\n  return xs[1]\nend\nlocal p: Point, q: number? = {x = 1, y = 2}, nil\nlocal s = (tostring(p.x) :: string)\nreturn first({p.x}) + p.y, s, obj:method(1)";
        let plain = erase_types(typed);
        assert_eq!(plain.lines().count(), typed.lines().count());
        assert_eq!(plain.len(), typed.len());
        assert!(!plain.contains("number") && !plain.contains("Point") && !plain.contains("::"));
        assert!(
            plain.contains("local function first   (xs     )"),
            "{plain}"
        );
        assert!(
            plain.contains("local p       , q          = {x = 1, y = 2}, nil"),
            "{plain}"
        );
        assert!(plain.contains("(tostring(p.x)          )"), "{plain}");
        // A method call is not a type annotation.
        assert!(plain.contains("obj:method(1)"), "{plain}");
    }

    #[test]
    fn several_return_types_without_parentheses_are_erased_as_wippy_reads_them() {
        let typed = "local function ask(r: {p: string?}): string?, string?\n  return r.p, nil\nend\nreturn ask";
        let plain = erase_types(typed);
        assert_eq!(plain.len(), typed.len());
        let first = plain.lines().next().unwrap_or_default();
        assert_eq!(
            first.trim_end(),
            "local function ask(r              )",
            "{plain:?}"
        );
    }

    #[test]
    fn plain_lua_54_and_broken_scripts_are_left_as_they_are() {
        for source in [
            "local x <const> = 5\nlocal y <close> = nil\ngoto done\n::done::\nreturn x // 2, x & 3, x ~ 1",
            "return function(a, b) return a:upper(), b end",
            "this is not lua",
        ] {
            assert_eq!(erase_types(source), source);
        }
    }
}
