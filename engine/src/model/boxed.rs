//! [`OptionBox<T>`]: an optional model field kept on the heap. Tekton's types carry many
//! fields that are almost never written (security contexts, resource requirements, probes,
//! v1beta1 leftovers); inline they made a `Step` almost 2 KB. Boxed, an absent one costs a
//! pointer. It reads like an `Option<T>` (`as_ref` gives `Option<&T>`), and deserializes,
//! serializes and has the JSON Schema of one.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An `Option<T>` stored out of line: one pointer wide, whatever `T` is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OptionBox<T>(Option<Box<T>>);

impl<T> OptionBox<T> {
    pub const fn none() -> Self {
        OptionBox(None)
    }

    pub fn new(value: T) -> Self {
        OptionBox(Some(Box::new(value)))
    }

    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    pub fn as_ref(&self) -> Option<&T> {
        self.0.as_deref()
    }

    pub fn iter(&self) -> std::option::IntoIter<&T> {
        self.as_ref().into_iter()
    }

    pub fn as_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    pub fn take(&mut self) -> Option<T> {
        self.0.take().map(|b| *b)
    }

    pub fn into_option(self) -> Option<T> {
        self.0.map(|b| *b)
    }

    /// `self` if it holds a value, else what `f` gives.
    pub fn or_else(self, f: impl FnOnce() -> Self) -> Self {
        if self.is_some() { self } else { f() }
    }

    pub fn get_or_insert_with(&mut self, f: impl FnOnce() -> T) -> &mut T {
        self.0.get_or_insert_with(|| Box::new(f()))
    }
}

impl<T> Default for OptionBox<T> {
    fn default() -> Self {
        OptionBox::none()
    }
}

impl<T> From<Option<T>> for OptionBox<T> {
    fn from(value: Option<T>) -> Self {
        OptionBox(value.map(Box::new))
    }
}

impl<'a, T> IntoIterator for &'a OptionBox<T> {
    type Item = &'a T;
    type IntoIter = std::option::IntoIter<&'a T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for OptionBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl<T: Serialize> Serialize for OptionBox<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OptionBox<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(OptionBox::from)
    }
}

impl<T: JsonSchema> JsonSchema for OptionBox<T> {
    fn inline_schema() -> bool {
        <Option<T>>::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Option<T>>::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        <Option<T>>::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Option<T>>::json_schema(generator)
    }

    fn _schemars_private_non_optional_json_schema(
        generator: &mut schemars::SchemaGenerator,
    ) -> schemars::Schema {
        <Option<T>>::_schemars_private_non_optional_json_schema(generator)
    }

    fn _schemars_private_is_option() -> bool {
        <Option<T>>::_schemars_private_is_option()
    }
}

#[cfg(test)]
mod tests {
    use super::OptionBox;

    #[test]
    fn an_absent_field_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<OptionBox<[u8; 1024]>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn reads_like_an_option() {
        let mut b = OptionBox::new(3);
        assert_eq!(b.as_ref(), Some(&3));
        assert_eq!(format!("{b:?}"), "Some(3)");
        assert_eq!(b.take(), Some(3));
        assert!(b.is_none());
        assert_eq!(format!("{b:?}"), "None");
        assert_eq!(b.or_else(|| OptionBox::new(4)).into_option(), Some(4));
    }
}
