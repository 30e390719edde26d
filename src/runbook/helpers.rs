//! The template helpers: the small, fixed vocabulary of functions templates may call.
//!
//! Names and behaviour follow handlebars' built-ins where handlebars has one (`eq`, `ne`, `gt`,
//! `gte`, `lt`, `lte`, `and`, `or`, `not`, `len`, `lookup`); the others (`contains`, `find`,
//! `join`, `default`, `json`, `concat`, `lower`, `upper`) are drbook's. Every helper is strict:
//! a wrong argument type is an error, never a silent `false`.

use std::cmp::Ordering;

use serde_json::Value;

/// How many arguments a helper takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Arity::Exactly(1) => "1 argument".into(),
            Arity::Exactly(k) => format!("{k} arguments"),
            Arity::AtLeast(k) => format!("at least {k} arguments"),
        }
    }
}

/// One helper: its name, arity, a one-line description and its implementation.
pub struct Helper {
    pub name: &'static str,
    pub arity: Arity,
    pub summary: &'static str,
    pub call: fn(&[Value]) -> Result<Value, String>,
}

/// Every helper, in the order the README documents them.
pub static HELPERS: &[Helper] = &[
    Helper {
        name: "eq",
        arity: Arity::Exactly(2),
        summary: "`a` equals `b` (numbers compare by value)",
        call: eq,
    },
    Helper {
        name: "ne",
        arity: Arity::Exactly(2),
        summary: "`a` differs from `b`",
        call: ne,
    },
    Helper {
        name: "gt",
        arity: Arity::Exactly(2),
        summary: "`a > b` (numbers, or strings in byte order)",
        call: gt,
    },
    Helper {
        name: "gte",
        arity: Arity::Exactly(2),
        summary: "`a >= b`",
        call: gte,
    },
    Helper {
        name: "lt",
        arity: Arity::Exactly(2),
        summary: "`a < b`",
        call: lt,
    },
    Helper {
        name: "lte",
        arity: Arity::Exactly(2),
        summary: "`a <= b`",
        call: lte,
    },
    Helper {
        name: "and",
        arity: Arity::AtLeast(2),
        summary: "every argument is truthy",
        call: and,
    },
    Helper {
        name: "or",
        arity: Arity::AtLeast(2),
        summary: "some argument is truthy",
        call: or,
    },
    Helper {
        name: "not",
        arity: Arity::Exactly(1),
        summary: "the argument is falsy",
        call: not,
    },
    Helper {
        name: "len",
        arity: Arity::Exactly(1),
        summary: "length of a list, string (characters) or mapping",
        call: len,
    },
    Helper {
        name: "contains",
        arity: Arity::Exactly(2),
        summary: "a list holds the value, a string holds the substring, or a mapping has the key",
        call: contains,
    },
    Helper {
        name: "lookup",
        arity: Arity::Exactly(2),
        summary: "element `i` of a list or field `k` of a mapping (null when absent)",
        call: lookup,
    },
    Helper {
        name: "find",
        arity: Arity::Exactly(3),
        summary: "first mapping in a list whose `field` equals `value` (null when none)",
        call: find,
    },
    Helper {
        name: "join",
        arity: Arity::Exactly(2),
        summary: "a list of scalars joined with a separator",
        call: join,
    },
    Helper {
        name: "default",
        arity: Arity::Exactly(2),
        summary: "the value, or the fallback when the value is null",
        call: default,
    },
    Helper {
        name: "json",
        arity: Arity::Exactly(1),
        summary: "the value as JSON text",
        call: json,
    },
    Helper {
        name: "concat",
        arity: Arity::AtLeast(1),
        summary: "scalars joined into one string",
        call: concat,
    },
    Helper {
        name: "lower",
        arity: Arity::Exactly(1),
        summary: "a string in lower case",
        call: lower,
    },
    Helper {
        name: "upper",
        arity: Arity::Exactly(1),
        summary: "a string in upper case",
        call: upper,
    },
];

/// The helper called `name`.
pub fn helper(name: &str) -> Option<&'static Helper> {
    HELPERS.iter().find(|h| h.name == name)
}

/// Truthiness, as in handlebars: `false`, `null`, `0`, `""`, `[]` and `{}` are falsy; every
/// other value is truthy. Conditions (`when`, `assert`, `{{#if}}`) use it.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The kind of a value, in words, for error messages (never the value: it may be a secret).
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Equality where `1` and `1.0` are the same number.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn eq(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(json_eq(&args[0], &args[1])))
}

fn ne(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(!json_eq(&args[0], &args[1])))
}

fn compare(args: &[Value]) -> Result<Ordering, String> {
    match (&args[0], &args[1]) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x.partial_cmp(&y)
                .ok_or_else(|| "cannot compare these numbers".to_string())
        }
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (a, b) => Err(format!(
            "can only compare two numbers or two strings, not {} with {}",
            kind(a),
            kind(b)
        )),
    }
}

fn gt(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(compare(args)? == Ordering::Greater))
}

fn gte(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(compare(args)? != Ordering::Less))
}

fn lt(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(compare(args)? == Ordering::Less))
}

fn lte(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(compare(args)? != Ordering::Greater))
}

fn and(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(args.iter().all(truthy)))
}

fn or(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(args.iter().any(truthy)))
}

fn not(args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(!truthy(&args[0])))
}

fn len(args: &[Value]) -> Result<Value, String> {
    match &args[0] {
        Value::Array(a) => Ok(Value::from(a.len())),
        Value::String(s) => Ok(Value::from(s.chars().count())),
        Value::Object(o) => Ok(Value::from(o.len())),
        other => Err(format!(
            "`len` needs a list, string or mapping, not {}",
            kind(other)
        )),
    }
}

fn contains(args: &[Value]) -> Result<Value, String> {
    match (&args[0], &args[1]) {
        (Value::Array(items), needle) => Ok(Value::Bool(items.iter().any(|i| json_eq(i, needle)))),
        (Value::String(s), Value::String(sub)) => Ok(Value::Bool(s.contains(sub.as_str()))),
        (Value::Object(map), Value::String(key)) => Ok(Value::Bool(map.contains_key(key))),
        (a, b) => Err(format!(
            "`contains` needs a list and a value, a string and a string, or a mapping and a key, not {} and {}",
            kind(a),
            kind(b)
        )),
    }
}

fn lookup(args: &[Value]) -> Result<Value, String> {
    match (&args[0], &args[1]) {
        (Value::Array(items), Value::Number(n)) => Ok(n
            .as_u64()
            .and_then(|i| items.get(i as usize))
            .cloned()
            .unwrap_or(Value::Null)),
        (Value::Array(items), Value::String(s)) => Ok(s
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .cloned()
            .unwrap_or(Value::Null)),
        (Value::Object(map), Value::String(key)) => {
            Ok(map.get(key).cloned().unwrap_or(Value::Null))
        }
        (a, b) => Err(format!(
            "`lookup` needs a list and an index or a mapping and a key, not {} and {}",
            kind(a),
            kind(b)
        )),
    }
}

fn find(args: &[Value]) -> Result<Value, String> {
    let (Value::Array(items), Value::String(field)) = (&args[0], &args[1]) else {
        return Err(format!(
            "`find` needs a list, a field name and a value, not {} and {}",
            kind(&args[0]),
            kind(&args[1])
        ));
    };
    Ok(items
        .iter()
        .find(|item| item.get(field).is_some_and(|v| json_eq(v, &args[2])))
        .cloned()
        .unwrap_or(Value::Null))
}

fn scalar_text(value: &Value, helper: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("`{helper}` joins scalars, not {}", kind(other))),
    }
}

fn join(args: &[Value]) -> Result<Value, String> {
    let Value::Array(items) = &args[0] else {
        return Err(format!("`join` needs a list, not {}", kind(&args[0])));
    };
    let separator = scalar_text(&args[1], "join")?;
    let parts = items
        .iter()
        .map(|i| scalar_text(i, "join"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.join(&separator)))
}

fn default(args: &[Value]) -> Result<Value, String> {
    Ok(if args[0].is_null() {
        args[1].clone()
    } else {
        args[0].clone()
    })
}

fn json(args: &[Value]) -> Result<Value, String> {
    Ok(Value::String(args[0].to_string()))
}

fn concat(args: &[Value]) -> Result<Value, String> {
    let parts = args
        .iter()
        .map(|a| scalar_text(a, "concat"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::String(parts.concat()))
}

fn lower(args: &[Value]) -> Result<Value, String> {
    match &args[0] {
        Value::String(s) => Ok(Value::String(s.to_lowercase())),
        other => Err(format!("`lower` needs a string, not {}", kind(other))),
    }
}

fn upper(args: &[Value]) -> Result<Value, String> {
    match &args[0] {
        Value::String(s) => Ok(Value::String(s.to_uppercase())),
        other => Err(format!("`upper` needs a string, not {}", kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        let h = helper(name).unwrap();
        assert!(h.arity.accepts(args.len()), "{name} arity");
        (h.call)(args)
    }

    #[test]
    fn comparisons() {
        assert_eq!(call("eq", &[json!(1), json!(1.0)]), Ok(json!(true)));
        assert_eq!(call("eq", &[json!("a"), json!("b")]), Ok(json!(false)));
        assert_eq!(call("ne", &[json!("a"), json!("b")]), Ok(json!(true)));
        assert_eq!(call("gt", &[json!(3), json!(2)]), Ok(json!(true)));
        assert_eq!(call("lte", &[json!("a"), json!("b")]), Ok(json!(true)));
        assert!(
            call("gt", &[json!("3"), json!(2)])
                .unwrap_err()
                .contains("a string with a number")
        );
    }

    #[test]
    fn logic_uses_truthiness() {
        for falsy in [
            json!(false),
            json!(null),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for truthy_value in [
            json!(true),
            json!(1),
            json!("false"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(truthy(&truthy_value), "{truthy_value}");
        }
        assert_eq!(
            call("and", &[json!(1), json!("x"), json!(true)]),
            Ok(json!(true))
        );
        assert_eq!(call("or", &[json!(0), json!("")]), Ok(json!(false)));
        assert_eq!(call("not", &[json!([])]), Ok(json!(true)));
    }

    #[test]
    fn collections() {
        let servers = json!([{"id": "a", "status": "ACTIVE"}, {"id": "b", "status": "SHUTOFF"}]);
        assert_eq!(call("len", std::slice::from_ref(&servers)), Ok(json!(2)));
        assert_eq!(call("len", &[json!("héllo")]), Ok(json!(5)));
        assert_eq!(
            call("contains", &[json!(["a", "b"]), json!("b")]),
            Ok(json!(true))
        );
        assert_eq!(
            call("contains", &[json!("failed-over"), json!("failed")]),
            Ok(json!(true))
        );
        assert_eq!(
            call("lookup", &[json!(["x", "y"]), json!(1)]),
            Ok(json!("y"))
        );
        assert_eq!(call("lookup", &[json!({"k": 3}), json!("k")]), Ok(json!(3)));
        assert_eq!(call("lookup", &[json!(["x"]), json!(5)]), Ok(json!(null)));
        assert_eq!(
            call("find", &[servers.clone(), json!("id"), json!("b")]),
            Ok(json!({"id": "b", "status": "SHUTOFF"}))
        );
        assert_eq!(
            call("find", &[servers, json!("id"), json!("z")]),
            Ok(json!(null))
        );
        assert_eq!(
            call("join", &[json!(["a", 1, true]), json!(",")]),
            Ok(json!("a,1,true"))
        );
        assert!(call("join", &[json!([{"a": 1}]), json!(",")]).is_err());
    }

    #[test]
    fn strings_and_defaults() {
        assert_eq!(call("default", &[json!(null), json!("x")]), Ok(json!("x")));
        assert_eq!(call("default", &[json!(""), json!("x")]), Ok(json!("")));
        assert_eq!(call("json", &[json!({"a": [1]})]), Ok(json!("{\"a\":[1]}")));
        assert_eq!(
            call("concat", &[json!("drill-"), json!(3)]),
            Ok(json!("drill-3"))
        );
        assert_eq!(call("lower", &[json!("ACTIVE")]), Ok(json!("active")));
        assert_eq!(call("upper", &[json!("soft")]), Ok(json!("SOFT")));
    }

    #[test]
    fn helper_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for h in HELPERS {
            assert!(seen.insert(h.name), "{}", h.name);
        }
    }
}
