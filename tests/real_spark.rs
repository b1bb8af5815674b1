//! Against a real Spark standalone master and worker (PyPI pyspark + Java 17).

mod support;
