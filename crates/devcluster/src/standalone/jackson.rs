//! JSON the way Spark's Jackson `ObjectMapper` with `INDENT_OUTPUT` (and json4s'
//! `pretty`) writes it: `DefaultPrettyPrinter`, i.e. objects one field per line
//! indented by two spaces with `"key" : value`, arrays inline as `[ a, b ]`, empty
//! containers as `{ }` and `[ ]`, no trailing newline.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

pub(super) fn to_string(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PrettyPrinter::default());
    // Our own plain structs cannot fail to serialize.
    if value.serialize(&mut ser).is_err() {
        return "{ }".to_owned();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[derive(Default)]
struct PrettyPrinter {
    depth: usize,
    /// Per open object: has it written a field yet?
    object_has_fields: Vec<bool>,
}

fn newline<W: ?Sized + io::Write>(w: &mut W, depth: usize) -> io::Result<()> {
    w.write_all(b"\n")?;
    for _ in 0..depth {
        w.write_all(b"  ")?;
    }
    Ok(())
}

impl Formatter for PrettyPrinter {
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.object_has_fields.push(false);
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.object_has_fields.pop().unwrap_or(false) {
            newline(w, self.depth)?;
        } else {
            w.write_all(b" ")?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(has_fields) = self.object_has_fields.last_mut() {
            *has_fields = true;
        }
        if !first {
            w.write_all(b",")?;
        }
        newline(w, self.depth)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        w.write_all(if first { b" " } else { b", " })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_like_jackson_default_pretty_printer() {
        let value = serde_json::json!({
            "action": "X",
            "list": [1, 2],
            "empty": [],
            "none": {},
            "objects": [{"a": 1}],
        });
        let expected = "{\n  \"action\" : \"X\",\n  \"empty\" : [ ],\n  \"list\" : [ 1, 2 ],\n  \
                        \"none\" : { },\n  \"objects\" : [ {\n    \"a\" : 1\n  } ]\n}";
        assert_eq!(super::to_string(&value), expected);
    }
}
