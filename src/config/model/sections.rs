//! One UCI section under inspection, and the problem list that every check adds to.
//!
//! Read first: `options` for what each section type takes. [`Problems`] checks a section's
//! type, name and the shape (`option` or `list`) of each option once; the readers then take
//! values only from correctly shaped options, so one mistake makes one line.

use super::knobs::{section_spec, Naming, SectionSpec, SECTION_TYPES};
use super::options::{OptionDecl, SectionKind, Shape, SOURCE_NAT_INTERFACE};
use super::problem::{Problem, ProblemKind, SectionRef};
use crate::config::uci::{Section, Value};

/// A section of a known type, with how messages name it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Checked<'a> {
    pub(super) section: &'a Section,
    pub(super) spec: &'static SectionSpec,
    /// Position among the sections of its type, for `@type[n]`.
    pub(super) index: usize,
}

impl<'a> Checked<'a> {
    /// `pool 'pool1'`, or `rule @rule[0]` if anonymous.
    pub(super) fn at(&self) -> SectionRef {
        SectionRef {
            section_type: self.section.section_type().to_owned(),
            name: self.section.name().map(str::to_owned),
            index: self.index,
        }
    }

    /// The section's name, or `@type[n]` if it has none.
    pub(super) fn name(&self) -> String {
        match self.section.name() {
            Some(name) => name.to_owned(),
            None => format!("@{}[{}]", self.section.section_type(), self.index),
        }
    }

    /// A single value and its line; `None` if absent or written as a list.
    pub(super) fn single(&self, option: &OptionDecl) -> Option<(&'a str, Option<u32>)> {
        let value = self.section.get(option.name)?;
        Some((value, self.section.option_line(option.name)))
    }

    /// The items of a list with their lines; empty if absent or written as an option.
    pub(super) fn items(&self, option: &OptionDecl) -> Vec<(&'a str, Option<u32>)> {
        match self.section.value(option.name) {
            Some(Value::List(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (item.as_str(), self.section.item_line(option.name, i)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// True if the option is there at all, whatever its shape.
    pub(super) fn has(&self, option: &OptionDecl) -> bool {
        self.section.value(option.name).is_some()
    }
}

/// The problems found so far, all for one file.
#[derive(Debug)]
pub(super) struct Problems<'f> {
    pub(super) file: &'f str,
    pub(super) list: Vec<Problem>,
}

impl<'f> Problems<'f> {
    pub(super) fn new(file: &'f str) -> Problems<'f> {
        Problems { file, list: Vec::new() }
    }

    /// Checks a section's type, name and option shapes. `None` for an unknown type, whose
    /// options mean nothing.
    pub(super) fn check_section<'a>(&mut self, section: &'a Section, index: usize) -> Option<Checked<'a>> {
        let Some(spec) = section_spec(section.section_type()) else {
            let at = SectionRef {
                section_type: section.section_type().to_owned(),
                name: section.name().map(str::to_owned),
                index,
            };
            let kind = ProblemKind::UnknownSectionType { allowed: SECTION_TYPES };
            self.list.push(Problem {
                file: self.file.to_owned(),
                line: section.line(),
                section: Some(at),
                option: None,
                kind,
            });
            return None;
        };
        let checked = Checked { section, spec, index };
        let naming_problem = match (spec.naming, section.name()) {
            (Naming::Fixed(name), found) if found != Some(name) => {
                Some(ProblemKind::WrongSectionName { allowed: name })
            }
            (Naming::Required, None) => Some(ProblemKind::NameRequired),
            (Naming::Required, Some(SOURCE_NAT_INTERFACE)) if spec.kind == SectionKind::Pool => {
                Some(ProblemKind::ReservedName)
            }
            _ => None,
        };
        if let Some(kind) = naming_problem {
            self.section(&checked, kind);
        }
        for (option, value) in section.options() {
            let kind = match (spec.kind.option(option).map(|o| o.shape), value) {
                (None, _) => ProblemKind::UnknownOption { section: spec.kind },
                (Some(Shape::List), Value::Option(_)) => ProblemKind::OptionNotList,
                (Some(Shape::Option), Value::List(_)) => ProblemKind::ListNotOption,
                (Some(_), _) => continue,
            };
            self.option(&checked, option, section.option_line(option), kind);
        }
        Some(checked)
    }

    /// A problem with a section as a whole, at its `config` line.
    pub(super) fn section(&mut self, at: &Checked<'_>, kind: ProblemKind) {
        self.list.push(Problem {
            file: self.file.to_owned(),
            line: at.section.line(),
            section: Some(at.at()),
            option: None,
            kind,
        });
    }

    /// A problem with one option (or list item) at `line`; the section's line if unknown.
    pub(super) fn option(&mut self, at: &Checked<'_>, option: &str, line: Option<u32>, kind: ProblemKind) {
        self.list.push(Problem {
            file: self.file.to_owned(),
            line: line.or(at.section.line()),
            section: Some(at.at()),
            option: Some(option.to_owned()),
            kind,
        });
    }

    /// Reads a single-valued option, if present and well formed; a problem otherwise.
    pub(super) fn read<T>(
        &mut self,
        at: &Checked<'_>,
        option: &OptionDecl,
        parse: impl FnOnce(&str) -> Result<T, ProblemKind>,
    ) -> Option<T> {
        let (value, line) = at.single(option)?;
        parse(value).map_err(|kind| self.option(at, option.name, line, kind)).ok()
    }

    /// [`Problems::read`] for an option that must be there: its absence is a problem too,
    /// which says what the option takes.
    pub(super) fn require<T>(
        &mut self,
        at: &Checked<'_>,
        option: &OptionDecl,
        parse: impl FnOnce(&str) -> Result<T, ProblemKind>,
    ) -> Option<T> {
        if !at.has(option) {
            let allowed = option.required_form().unwrap_or(option.doc);
            self.option(at, option.name, None, ProblemKind::Missing { allowed });
            return None;
        }
        self.read(at, option, parse)
    }
}
