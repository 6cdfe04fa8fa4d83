//! `config pool` sections to the engine's pools: address entries, proxy ARP, and the checks
//! that no address is in two entries and no pool is larger than the engine takes.
//!
//! Read first: SPEC §4 (`security nat source pool … address A to B`, proxy ARP for pool
//! addresses) and [`EngineConfig::validate`](crate::engine::EngineConfig::validate), whose
//! pool rules these checks repeat with a file and line.

use super::options::{ADDRESS, PROXY_ARP};
use super::problem::{ProblemKind, SectionRef};
use super::sections::{Checked, Problems};
use super::values;
use super::PoolOptions;
use crate::engine::{AddressRange, PoolConfig, MAX_POOL_ADDRESSES};

/// What a `missing address` message allows: more than the option's form, since it is a list.
const ADDRESS_FORM: &str = "at least one 'list address' of A-B, a.b.c.d/n or a single address";

/// The pools in file order, with what the engine does not need. Unnamed pools are kept (as
/// `@pool[n]`) so that their entries are checked too; their section is already a problem.
pub(super) fn read_pools(problems: &mut Problems<'_>, sections: &[Checked<'_>]) -> (Vec<PoolConfig>, Vec<PoolOptions>) {
    let mut seen: Vec<SeenEntry> = Vec::new();
    let mut pools = Vec::new();
    let mut options = Vec::new();
    for (pool_index, section) in sections.iter().enumerate() {
        let proxy_arp = problems.read(section, &PROXY_ARP, values::boolean);
        if !section.has(&ADDRESS) {
            problems.option(section, ADDRESS.name, None, ProblemKind::Missing { allowed: ADDRESS_FORM });
        }
        let mut ranges = Vec::new();
        for (value, line) in section.items(&ADDRESS) {
            let range = match values::pool_entry(value) {
                Ok(range) => range,
                Err(kind) => {
                    problems.option(section, ADDRESS.name, line, kind);
                    continue;
                }
            };
            if let Some(other) = seen.iter().find(|e| e.range.overlaps(&range)) {
                let other_pool = (other.pool_index != pool_index).then(|| other.pool.clone());
                let kind = ProblemKind::PoolOverlap {
                    value: value.to_owned(),
                    other_pool,
                    other_value: other.value.clone(),
                    other_line: other.line,
                };
                problems.option(section, ADDRESS.name, line, kind);
                continue;
            }
            seen.push(SeenEntry { pool_index, pool: section.at(), value: value.to_owned(), line, range });
            ranges.push(range);
        }
        let pool = PoolConfig { name: section.name(), ranges };
        if pool.size() > MAX_POOL_ADDRESSES {
            let kind = ProblemKind::PoolTooLarge { size: pool.size(), max: MAX_POOL_ADDRESSES };
            let line = section.section.option_line(ADDRESS.name);
            problems.option(section, ADDRESS.name, line, kind);
        }
        options.push(PoolOptions { name: pool.name.clone(), proxy_arp: proxy_arp.unwrap_or(PROXY_ARP.flag_default()) });
        pools.push(pool);
    }
    (pools, options)
}

/// A pool entry already accepted, for the overlap check of the ones after it.
#[derive(Debug)]
struct SeenEntry {
    pool_index: usize,
    pool: SectionRef,
    value: String,
    line: Option<u32>,
    range: AddressRange,
}
