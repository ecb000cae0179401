//! A bound on the memory a request body becomes when parsed.
//!
//! A byte of JSON can become more than a byte in memory (`0,` is two bytes of text and four of
//! `f32`; a vector grows by doubling), so limiting the body's size alone bounds the parsed
//! request only by a multiple of it. Every heap allocation a parse makes (vector slots, string
//! bytes) is charged here before it is made, against a budget per parse; the allocation that would
//! pass it fails the parse instead, and [`exceeded`] says so.
//!
//! Fields that own heap memory deserialize through [`charged`]:
//! `#[serde(deserialize_with = "parse_budget::charged")]`. Outside [`within`] nothing is charged.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error, SeqAccess, Visitor};

thread_local! {
    static REMAINING: Cell<Option<usize>> = const { Cell::new(None) };
    static EXCEEDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `parse` with `budget` bytes to allocate on this thread. Returns its result and whether
/// it failed for want of budget.
pub fn within<T>(budget: usize, parse: impl FnOnce() -> T) -> (T, bool) {
    REMAINING.set(Some(budget));
    EXCEEDED.set(false);
    let result = parse();
    REMAINING.set(None);
    (result, EXCEEDED.take())
}

/// Takes `bytes` from the budget, or fails the parse.
fn charge<E: Error>(bytes: usize) -> Result<(), E> {
    let Some(remaining) = REMAINING.get() else {
        return Ok(());
    };
    match remaining.checked_sub(bytes) {
        Some(left) => {
            REMAINING.set(Some(left));
            Ok(())
        }
        None => {
            EXCEEDED.set(true);
            Err(E::custom(
                "the request body would take more memory parsed than the body limit allows",
            ))
        }
    }
}

/// What a budgeted field may be: its heap allocations are charged as they are made.
pub trait Budgeted<'de>: Sized {
    fn deserialize_budgeted<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// For `#[serde(deserialize_with = …)]` on a field that owns heap memory.
pub fn charged<'de, D: Deserializer<'de>, T: Budgeted<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::deserialize_budgeted(deserializer)
}

impl<'de> Budgeted<'de> for f32 {
    fn deserialize_budgeted<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }
}

impl<'de> Budgeted<'de> for String {
    fn deserialize_budgeted<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringVisitor;
        impl Visitor<'_> for StringVisitor {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: Error>(self, text: &str) -> Result<String, E> {
                charge(text.len())?;
                Ok(text.to_owned())
            }
        }
        deserializer.deserialize_string(StringVisitor)
    }
}

impl<'de, T: Budgeted<'de>> Budgeted<'de> for Option<T> {
    fn deserialize_budgeted<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptionVisitor<T>(PhantomData<T>);
        impl<'de, T: Budgeted<'de>> Visitor<'de> for OptionVisitor<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or null")
            }
            fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
                T::deserialize_budgeted(inner).map(Some)
            }
        }
        deserializer.deserialize_option(OptionVisitor(PhantomData))
    }
}

impl<'de, T: Budgeted<'de>> Budgeted<'de> for Vec<T> {
    fn deserialize_budgeted<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VecVisitor<T>(PhantomData<T>);
        impl<'de, T: Budgeted<'de>> Visitor<'de> for VecVisitor<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element_seed(Element(PhantomData))? {
                    // Growth is decided here, not by Vec, so that what is charged is what
                    // is allocated.
                    if items.len() == items.capacity() {
                        let more = items.capacity().max(4);
                        charge(more.saturating_mul(size_of::<T>()))?;
                        items.reserve_exact(more);
                    }
                    items.push(item);
                }
                Ok(items)
            }
        }
        deserializer.deserialize_seq(VecVisitor(PhantomData))
    }
}

struct Element<T>(PhantomData<T>);

impl<'de, T: Budgeted<'de>> DeserializeSeed<'de> for Element<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize_budgeted(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_values(json: &str) -> Result<Vec<f32>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        Vec::<f32>::deserialize_budgeted(&mut deserializer)
    }

    #[test]
    fn a_parse_within_its_budget_succeeds_and_one_beyond_it_fails() {
        // Four values: one growth step of 4 slots, 16 bytes.
        let (values, exceeded) = within(16, || parse_values("[1,2,3,4]"));
        assert_eq!(values.unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert!(!exceeded);
        // The fifth value doubles the capacity to 8: 16 more bytes than the budget has.
        let (values, exceeded) = within(16, || parse_values("[1,2,3,4,5]"));
        assert!(values.is_err());
        assert!(exceeded);
    }

    #[test]
    fn strings_are_charged_by_their_length() {
        let parse = |json: &str| {
            let mut deserializer = serde_json::Deserializer::from_str(json);
            Vec::<String>::deserialize_budgeted(&mut deserializer)
        };
        let slots = 4 * size_of::<String>();
        assert!(within(slots + 6, || parse(r#"["abc","def"]"#)).0.is_ok());
        let (result, exceeded) = within(slots + 5, || parse(r#"["abc","def"]"#));
        assert!(result.is_err());
        assert!(exceeded);
    }

    #[test]
    fn nothing_is_charged_outside_a_budget() {
        assert_eq!(parse_values("[1,2,3,4,5,6,7,8,9]").unwrap().len(), 9);
        // and a budget does not outlive its parse
        let _ = within(0, || parse_values("[1]"));
        assert_eq!(parse_values("[1,2]").unwrap().len(), 2);
    }
}
