//! The UCI data model: a [`Package`] of [`Section`]s of options and lists, and libuci's rules
//! for names, types and values.
//!
//! Read first: libuci's `list.c` (`uci_set`, `uci_add_list`: how repeated options and lists
//! merge) and `util.c` (`uci_validate_str`, `uci_validate_text`). Every way of building or
//! changing a package goes through these rules, so a package is always writable.

use super::{ErrorKind, Warning};

/// One configuration file: an optional `package` name and its sections, in file order.
///
/// Built by [`parse`](fn@super::parse) or through [`Package::named_section_mut`] and
/// [`Package::add_anonymous_section`], so names, types and values always satisfy libuci's rules
/// and explicit section names are unique (an anonymous section's generated name may equal one,
/// as in libuci); [`write`](fn@super::write) therefore always produces text libuci can load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    pub(super) name: Option<String>,
    pub(super) sections: Vec<Section>,
    /// What the parser read the libuci way but the author probably did not mean.
    pub(super) warnings: Vec<Warning>,
}

/// One `config <type> [name]` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub(super) section_type: String,
    pub(super) name: Option<String>,
    /// The name libuci gives an anonymous section (`uci_fixup_section`): `cfg`, the number of
    /// sections created so far in hex, and the low 16 bits of a hash of the type.
    pub(super) generated_name: Option<String>,
    pub(super) line: u32,
    pub(super) options: Vec<Entry>,
}

/// The value of an option: a single string (`option`) or a list (`list`, one item per line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Option(String),
    List(Vec<String>),
}

/// True if `name` is a valid section or option name: one or more of `[A-Za-z0-9_]`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Package {
    /// An empty package that `write` heads with `package <name>`.
    pub fn with_name(name: &str) -> Result<Package, ErrorKind> {
        if !is_valid_package_name(name) {
            return Err(ErrorKind::InvalidPackageName(name.to_owned()));
        }
        Ok(Package { name: Some(name.to_owned()), sections: Vec::new(), warnings: Vec::new() })
    }

    /// The name from the `package` statement, if the file has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What the parser read as libuci does but reported as a likely mistake (text libuci
    /// ignores); empty for a package built in code.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// All sections, in file order (a merged section stays where it first appeared).
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The sections of one type, in file order.
    pub fn sections_of_type<'a>(&'a self, section_type: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.section_type == section_type)
    }

    /// The section called `name`: the first one so named, or anonymous with that generated
    /// name, as libuci's `uci_lookup_list` finds it.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.get(self.index_by_name(name)?)
    }

    fn index_by_name(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name.as_deref() == Some(name) || s.generated_name.as_deref() == Some(name))
    }

    /// Looks a section up the way `uci get` does: by name, or `@type[n]` for the n-th section
    /// of that type (named ones included), `@type[-1]` for the last, `@[n]` over all types.
    pub fn section_by_ref(&self, reference: &str) -> Option<&Section> {
        self.sections.get(self.section_index(reference)?)
    }

    /// [`Package::section_by_ref`], for changing the section's options.
    pub fn section_by_ref_mut(&mut self, reference: &str) -> Option<&mut Section> {
        let index = self.section_index(reference)?;
        self.sections.get_mut(index)
    }

    /// `uci get package.<section_ref>.<option>` for a single-valued option.
    pub fn get(&self, section_ref: &str, option: &str) -> Option<&str> {
        self.section_by_ref(section_ref)?.get(option)
    }

    /// The items of a list option (a single-valued option reads as a one-item list).
    pub fn get_list(&self, section_ref: &str, option: &str) -> Option<&[String]> {
        self.section_by_ref(section_ref)?.get_list(option)
    }

    /// The section called `name` (or the anonymous one with that generated name), created at
    /// the end if there is none: what a repeated `config <type> '<name>'` does. Another type
    /// under the same name is an error.
    pub fn named_section_mut(&mut self, section_type: &str, name: &str) -> Result<&mut Section, ErrorKind> {
        self.named_section_at(section_type, name, 0)
    }

    /// Appends an anonymous section (`config <type>` without a name).
    pub fn add_anonymous_section(&mut self, section_type: &str) -> Result<&mut Section, ErrorKind> {
        Ok(self.push_section(Section::new(section_type, None, 0)?))
    }

    /// The sections, for changing options or reordering (as `uci reorder` does); adding,
    /// removing and renaming go through the methods that keep names unique.
    pub fn sections_mut(&mut self) -> &mut [Section] {
        &mut self.sections
    }

    fn section_index(&self, reference: &str) -> Option<usize> {
        let Some(extended) = reference.strip_prefix('@') else {
            return self.index_by_name(reference);
        };
        // libuci's uci_lookup_ext_section: `@type[index]`, a negative index counts from the end.
        let (section_type, index) = extended.strip_suffix(']')?.split_once('[')?;
        let index: i64 = index.parse().ok()?;
        if !section_type.is_empty() && !is_valid_type(section_type) {
            return None;
        }
        let of_type = |s: &Section| section_type.is_empty() || s.section_type == section_type;
        let index = if index < 0 {
            let count = i64::try_from(self.sections.iter().filter(|s| of_type(s)).count()).ok()?;
            index.checked_add(count)?
        } else {
            index
        };
        let nth = usize::try_from(index).ok()?;
        self.sections.iter().enumerate().filter(|(_, s)| of_type(s)).nth(nth).map(|(i, _)| i)
    }

    pub(super) fn named_section_at(
        &mut self,
        section_type: &str,
        name: &str,
        line: u32,
    ) -> Result<&mut Section, ErrorKind> {
        let index = self.named_section_index(section_type, name, line)?;
        Ok(element_mut(&mut self.sections, index))
    }

    /// The index of the section `name` (or of an anonymous one whose generated name it is, as
    /// libuci's `uci_parse_config` looks it up), created at the end if there is none.
    pub(super) fn named_section_index(
        &mut self,
        section_type: &str,
        name: &str,
        line: u32,
    ) -> Result<usize, ErrorKind> {
        if !is_valid_name(name) {
            return Err(ErrorKind::InvalidSectionName(name.to_owned()));
        }
        if !is_valid_type(section_type) {
            return Err(ErrorKind::InvalidSectionType(section_type.to_owned()));
        }
        let index = match self.index_by_name(name) {
            Some(index) => index,
            None => {
                self.sections.push(Section::new(section_type, Some(name), line)?);
                self.sections.len().saturating_sub(1)
            }
        };
        let section = element_mut(&mut self.sections, index);
        if section.section_type != section_type {
            return Err(ErrorKind::TypeConflict {
                name: name.to_owned(),
                existing: section.section_type.clone(),
                found: section_type.to_owned(),
            });
        }
        Ok(index)
    }

    /// Appends a section; an anonymous one gets libuci's generated name.
    pub(super) fn push_section(&mut self, mut section: Section) -> &mut Section {
        if section.name.is_none() {
            let count = self.sections.len().saturating_add(1);
            section.generated_name = Some(generated_name(count, &section.section_type));
        }
        self.sections.push(section);
        let last = self.sections.len().saturating_sub(1);
        element_mut(&mut self.sections, last)
    }
}

impl Section {
    pub(super) fn new(section_type: &str, name: Option<&str>, line: u32) -> Result<Section, ErrorKind> {
        if !is_valid_type(section_type) {
            return Err(ErrorKind::InvalidSectionType(section_type.to_owned()));
        }
        Ok(Section {
            section_type: section_type.to_owned(),
            name: name.map(str::to_owned),
            generated_name: None,
            line,
            options: Vec::new(),
        })
    }

    /// The type, the first argument of `config`.
    pub fn section_type(&self) -> &str {
        &self.section_type
    }

    /// The name, or `None` for an anonymous section.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// For an anonymous section, the name libuci generates for it (`cfg01a2b3`), by which
    /// `uci get` and a later `config <type> '<that name>'` find it.
    pub fn generated_name(&self) -> Option<&str> {
        self.generated_name.as_deref()
    }

    /// The line of the `config` command that opened the section (`None` if built in code).
    pub fn line(&self) -> Option<u32> {
        non_zero(self.line)
    }

    /// The options in order, lists as one entry each.
    pub fn options(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.options.iter().map(|e| (e.name.as_str(), &e.value))
    }

    pub fn value(&self, option: &str) -> Option<&Value> {
        self.entry(option).map(|e| &e.value)
    }

    /// The value of a single-valued option; `None` if missing or a list.
    pub fn get(&self, option: &str) -> Option<&str> {
        match self.value(option)? {
            Value::Option(value) => Some(value),
            Value::List(_) => None,
        }
    }

    /// The items of a list; a single-valued option reads as a one-item list.
    pub fn get_list(&self, option: &str) -> Option<&[String]> {
        self.value(option).map(Value::as_list)
    }

    /// The line that set the option (for a list, its first item).
    pub fn option_line(&self, option: &str) -> Option<u32> {
        self.item_line(option, 0)
    }

    /// The line of the `index`-th item of a list (index 0 for a single-valued option).
    pub fn item_line(&self, option: &str, index: usize) -> Option<u32> {
        self.entry(option)?.lines.get(index).copied().and_then(non_zero)
    }

    /// Sets a single-valued option, like `uci set`: an empty value removes the option.
    pub fn set_option(&mut self, option: &str, value: &str) -> Result<(), ErrorKind> {
        if value.is_empty() {
            check_name(option)?;
            self.options.retain(|e| e.name != option);
            return Ok(());
        }
        self.set_option_at(option, value, 0)
    }

    /// Appends one item to a list, like `uci add_list` (a single value becomes the first item).
    pub fn add_list(&mut self, option: &str, value: &str) -> Result<(), ErrorKind> {
        self.add_list_at(option, value, 0)
    }

    /// Reorders the options by a key given the option name, keeping the current order among
    /// equal keys.
    pub fn sort_options_by_key<K: Ord>(&mut self, mut key: impl FnMut(&str) -> K) {
        self.options.sort_by_key(|e| key(&e.name));
    }

    fn entry(&self, option: &str) -> Option<&Entry> {
        self.options.iter().find(|e| e.name == option)
    }

    pub(super) fn set_option_at(&mut self, option: &str, value: &str, line: u32) -> Result<(), ErrorKind> {
        check_name(option)?;
        check_value(value)?;
        if let Some(entry) = self.options.iter_mut().find(|e| e.name == option) {
            // libuci (uci_set) leaves an unchanged option alone and puts a changed one, or one
            // replacing a list, where the old one was.
            if entry.value != Value::Option(value.to_owned()) {
                entry.value = Value::Option(value.to_owned());
                entry.lines = vec![line];
            }
            return Ok(());
        }
        self.options.push(Entry { name: option.to_owned(), value: Value::Option(value.to_owned()), lines: vec![line] });
        Ok(())
    }

    pub(super) fn add_list_at(&mut self, option: &str, value: &str, line: u32) -> Result<(), ErrorKind> {
        check_name(option)?;
        check_value(value)?;
        let Some(entry) = self.options.iter_mut().find(|e| e.name == option) else {
            let value = Value::List(vec![value.to_owned()]);
            self.options.push(Entry { name: option.to_owned(), value, lines: vec![line] });
            return Ok(());
        };
        // An existing list grows in place; libuci (uci_add_list) turns a single value into a
        // list whose first item it is, in the place of the option.
        match &mut entry.value {
            Value::List(items) => items.push(value.to_owned()),
            Value::Option(old) => entry.value = Value::List(vec![std::mem::take(old), value.to_owned()]),
        }
        entry.lines.push(line);
        Ok(())
    }
}

impl Value {
    /// The single value; `None` for a list.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Option(value) => Some(value),
            Value::List(_) => None,
        }
    }

    /// The items; a single value reads as a one-item list.
    pub fn as_list(&self) -> &[String] {
        match self {
            Value::Option(value) => std::slice::from_ref(value),
            Value::List(items) => items,
        }
    }
}

/// One option or list, with the line of each assignment (one per list item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) value: Value,
    pub(super) lines: Vec<u32>,
}

fn check_name(option: &str) -> Result<(), ErrorKind> {
    if is_valid_name(option) {
        Ok(())
    } else {
        Err(ErrorKind::InvalidOptionName(option.to_owned()))
    }
}

fn check_value(value: &str) -> Result<(), ErrorKind> {
    if value.chars().any(is_forbidden_in_value) {
        Err(ErrorKind::InvalidValue(value.to_owned()))
    } else {
        Ok(())
    }
}

pub(super) fn is_valid_package_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// libuci's `uci_validate_type`: printable ASCII from 33 to 126.
pub(super) fn is_valid_type(section_type: &str) -> bool {
    !section_type.is_empty() && section_type.bytes().all(|b| (33..=126).contains(&b))
}

/// libuci's `uci_validate_text`: no control characters but tab, CR and LF.
pub(super) fn is_forbidden_in_value(c: char) -> bool {
    u32::from(c) < 32 && !matches!(c, '\t' | '\r' | '\n')
}

/// libuci's name for the `count`-th section created in a package when it is anonymous
/// (`uci_fixup_section`, called before the section has options): `cfg`, the count in two or
/// more hex digits, and the low 16 bits of the DJB hash of the type.
fn generated_name(count: usize, section_type: &str) -> String {
    let hash = section_type.bytes().fold(5381_u32, |hash, b| hash.wrapping_mul(33).wrapping_add(u32::from(b)));
    format!("cfg{count:02x}{:04x}", hash & 0xffff)
}

/// `&mut items[index]` for an index the caller just found or pushed.
#[allow(clippy::indexing_slicing)] // Callers pass `position()` results or `len() - 1` after a push.
fn element_mut<T>(items: &mut [T], index: usize) -> &mut T {
    &mut items[index]
}

fn non_zero(line: u32) -> Option<u32> {
    (line != 0).then_some(line)
}
