//! Phone normalisation cost per number: every number of libphonenumber's
//! example corpus (all regions and types, five notations) normalised in a
//! loop on one thread, as every imported row and inbound call does.

use std::time::Instant;

use rapport_contacts::domain::{Region, normalize_phone};

const CORPUS: &str = include_str!("../../services/contacts/tests/data/phone_corpus.tsv");

pub(crate) fn phones(rounds: u32) -> anyhow::Result<()> {
    let rows: Vec<(Region, &str)> = CORPUS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some((Region::parse(cols.get(3)?).ok()?, *cols.get(4)?))
        })
        .collect();
    // The numbers the contacts import writes (US, with spaces).
    let us: Vec<String> = (0..rows.len())
        .map(|i| format!("+1 415 555 {:04}", i % 10_000))
        .collect();
    // The first call loads the metadata; leave it out of the figures.
    let _ = normalize_phone("+1 415 555 2671", Region::default());
    for (name, inputs) in [
        ("corpus (every region, 5 notations)", rows.clone()),
        (
            "US numbers as the import writes them",
            us.iter().map(|s| (Region::default(), s.as_str())).collect(),
        ),
    ] {
        let start = Instant::now();
        let mut valid = 0usize;
        for _ in 0..rounds {
            for (region, input) in &inputs {
                valid += usize::from(normalize_phone(input, *region).is_ok());
            }
        }
        let n = inputs.len() as f64 * f64::from(rounds);
        let ns = start.elapsed().as_nanos() as f64 / n;
        println!(
            "{name}: {} numbers x {rounds} rounds, {:.0} ns per number ({:.0} per second on one core), {} valid per round",
            inputs.len(),
            ns,
            1e9 / ns,
            valid / rounds.max(1) as usize
        );
    }
    Ok(())
}
