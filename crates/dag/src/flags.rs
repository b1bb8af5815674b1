//! spark-submit's flags that stand for Spark properties, as DAG fields.
//!
//! spark-submit turns most of its flags into Spark properties before it does
//! anything else (`--packages` is `spark.jars.packages`, `--queue` is
//! `spark.yarn.queue`, ...), so a DAG field for such a flag is folded into
//! the application's `conf` under the same key, and every backend sees the
//! flag the way Spark itself would. A plugin maps the property to whatever
//! its cluster takes (YARN's submission context has a `queue` field) and
//! refuses the ones its cluster cannot honour, by the property's name.
//! Writing both the field and its property in `conf` is refused: one of the
//! two would be silently ignored.

use serde_spanned::Spanned;

use crate::diagnostic::{Diags, Span};
use crate::schema::SubmitFlagsFile;

/// The DAG field, the Spark property it sets, and spark-submit's flag for it,
/// in the order the properties are set. Dynamic allocation's sub-keys are
/// `dynamic_allocation.<key>`.
pub const SUBMIT_FLAGS: &[(&str, &str, &str)] = &[
    ("archives", "spark.archives", "--archives"),
    ("packages", "spark.jars.packages", "--packages"),
    ("repositories", "spark.jars.repositories", "--repositories"),
    ("exclude_packages", "spark.jars.excludes", "--exclude-packages"),
    ("total_executor_cores", "spark.cores.max", "--total-executor-cores"),
    ("principal", "spark.kerberos.principal", "--principal"),
    ("keytab", "spark.kerberos.keytab", "--keytab"),
    ("driver_java_options", "spark.driver.extraJavaOptions", "--driver-java-options"),
    ("driver_class_path", "spark.driver.extraClassPath", "--driver-class-path"),
    ("queue", "spark.yarn.queue", "--queue"),
    ("dynamic_allocation", "spark.dynamicAllocation.enabled", "--conf"),
    ("dynamic_allocation.min_executors", "spark.dynamicAllocation.minExecutors", "--conf"),
    ("dynamic_allocation.max_executors", "spark.dynamicAllocation.maxExecutors", "--conf"),
    (
        "dynamic_allocation.initial_executors",
        "spark.dynamicAllocation.initialExecutors",
        "--conf",
    ),
];

/// One flag as written: its field, where, and the property it sets.
pub(crate) struct FlagProperty {
    pub field: &'static str,
    pub span: Span,
    pub key: &'static str,
    pub value: String,
}

fn key_of(field: &str) -> &'static str {
    SUBMIT_FLAGS
        .iter()
        .find(|(f, _, _)| *f == field)
        .map(|(_, k, _)| *k)
        .expect("every flag field is in SUBMIT_FLAGS")
}

/// The properties the flags set, with paths (`archives`, `keytab`) resolved
/// by `path`. Reports flags that are wrong on their own (a keytab without a
/// principal, min above max).
pub(crate) fn properties(
    f: &SubmitFlagsFile,
    label: &str,
    path: impl Fn(&str) -> String,
    d: &mut Diags,
) -> Vec<FlagProperty> {
    let mut out = Vec::new();
    let mut put = |field: &'static str, span: Span, value: String| {
        out.push(FlagProperty {
            field,
            span,
            key: key_of(field),
            value,
        })
    };
    let list = |items: &[Spanned<String>], resolve: bool| -> String {
        items
            .iter()
            .map(|s| if resolve { path(s.get_ref()) } else { s.get_ref().clone() })
            .collect::<Vec<_>>()
            .join(",")
    };
    for (field, items, resolve) in [
        ("archives", &f.archives, true),
        ("packages", &f.packages, false),
        ("repositories", &f.repositories, false),
        ("exclude_packages", &f.exclude_packages, false),
    ] {
        if let Some(first) = items.first() {
            put(field, first.span(), list(items, resolve));
        }
    }
    if let Some(n) = &f.total_executor_cores {
        if *n.get_ref() == 0 {
            d.error(
                n.span(),
                format!("total_executor_cores of {label} is 0"),
                Some("give at least 1, or leave it out for every core the master offers".into()),
            );
        }
        put("total_executor_cores", n.span(), n.get_ref().to_string());
    }
    match (&f.principal, &f.keytab) {
        (Some(p), Some(k)) => {
            put("principal", p.span(), p.get_ref().clone());
            put("keytab", k.span(), path(k.get_ref()));
        }
        (Some(s), None) | (None, Some(s)) => d.error(
            s.span(),
            format!("{label} sets only one of \"principal\" and \"keytab\""),
            Some("Kerberos login needs both, as spark-submit's --principal and --keytab do".into()),
        ),
        (None, None) => {}
    }
    for (field, s) in [
        ("driver_java_options", &f.driver_java_options),
        ("driver_class_path", &f.driver_class_path),
        ("queue", &f.queue),
    ] {
        if let Some(s) = s {
            put(field, s.span(), s.get_ref().clone());
        }
    }
    if let Some(da) = &f.dynamic_allocation {
        put("dynamic_allocation", da.span.clone(), "true".into());
        let fields = [
            ("dynamic_allocation.min_executors", &da.min_executors),
            ("dynamic_allocation.initial_executors", &da.initial_executors),
            ("dynamic_allocation.max_executors", &da.max_executors),
        ];
        for (field, n) in fields {
            if let Some(n) = n {
                put(field, n.span(), n.get_ref().to_string());
            }
        }
        let value = |n: &Option<Spanned<u32>>| n.as_ref().map(|n| *n.get_ref());
        let (min, initial, max) = (
            value(&da.min_executors),
            value(&da.initial_executors),
            value(&da.max_executors),
        );
        if max == Some(0) {
            let span = da.max_executors.as_ref().map_or(da.span.clone(), |s| s.span());
            d.error(
                span,
                format!("dynamic_allocation.max_executors of {label} is 0"),
                Some("Spark needs at least one executor; leave max_executors out for no limit".into()),
            );
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            d.error(
                da.min_executors.as_ref().map_or(da.span.clone(), |s| s.span()),
                format!("dynamic_allocation.min_executors ({lo}) of {label} is above max_executors ({hi})"),
                Some("Spark refuses min_executors > max_executors at start".into()),
            );
        }
        if let Some(i) = initial
            && (min.is_some_and(|lo| i < lo) || max.is_some_and(|hi| i > hi))
        {
            d.error(
                da.initial_executors.as_ref().map_or(da.span.clone(), |s| s.span()),
                format!("dynamic_allocation.initial_executors ({i}) of {label} is outside min_executors..max_executors"),
                Some("initial_executors must lie between min_executors and max_executors".into()),
            );
        }
    }
    out
}

/// Where each flag's property is written, for pointing a plugin's objection
/// to `conf.<property>` at the flag's own line.
pub(crate) fn property_spans(f: &SubmitFlagsFile) -> Vec<(&'static str, Span)> {
    let mut out = Vec::new();
    let mut put = |field: &'static str, span: Option<Span>| {
        if let Some(span) = span {
            out.push((key_of(field), span));
        }
    };
    put("archives", f.archives.first().map(|s| s.span()));
    put("packages", f.packages.first().map(|s| s.span()));
    put("repositories", f.repositories.first().map(|s| s.span()));
    put("exclude_packages", f.exclude_packages.first().map(|s| s.span()));
    put("total_executor_cores", f.total_executor_cores.as_ref().map(|s| s.span()));
    put("principal", f.principal.as_ref().map(|s| s.span()));
    put("keytab", f.keytab.as_ref().map(|s| s.span()));
    put("driver_java_options", f.driver_java_options.as_ref().map(|s| s.span()));
    put("driver_class_path", f.driver_class_path.as_ref().map(|s| s.span()));
    put("queue", f.queue.as_ref().map(|s| s.span()));
    if let Some(da) = &f.dynamic_allocation {
        put("dynamic_allocation", Some(da.span.clone()));
        put("dynamic_allocation.min_executors", da.min_executors.as_ref().map(|s| s.span()));
        put("dynamic_allocation.max_executors", da.max_executors.as_ref().map(|s| s.span()));
        put("dynamic_allocation.initial_executors", da.initial_executors.as_ref().map(|s| s.span()));
    }
    out
}
