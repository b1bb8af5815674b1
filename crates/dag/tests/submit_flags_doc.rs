//! docs/submit-flags.md's table names, for each flag field, the Spark
//! property and spark-submit flag the loader folds it into: checked against
//! [`drover_dag::SUBMIT_FLAGS`] so the two cannot drift apart. (Each
//! backend's column is checked against that backend's golden request by the
//! plugins' own tests.)

#[test]
fn the_docs_table_names_the_property_and_flag_the_loader_uses() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/submit-flags.md"))
        .expect("docs/submit-flags.md");
    let rows: Vec<Vec<String>> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| DAG field"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "no table rows in docs/submit-flags.md");
    for (field, property, flag) in drover_dag::SUBMIT_FLAGS {
        let row = rows
            .iter()
            .find(|r| r[0] == *field)
            .unwrap_or_else(|| panic!("docs/submit-flags.md has no row for `{field}`"));
        assert_eq!(row[1], *property, "the Spark property of `{field}`");
        assert_eq!(row[2], *flag, "the spark-submit flag of `{field}`");
    }
}
