// A tiny, real Spark driver used by drover's end-to-end tests.
//
// Built by tests/support/spark.rs (`build_java_app`) with
//   javac --release 17 -cp "$SPARK_HOME/jars/*" -d classes DroverTestApp.java
//   jar cf app.jar -C classes .
// Main class: `DroverTestApp` (no package).
//
// Usage: DroverTestApp <mode> [arg]
//   ok            run a tiny job, print `drover-test-app result=<n>` (n = 499500) and exit 0
//   sleep <secs>  start the session, print `drover-test-app sleeping <secs>`, sleep, exit 0
//   fail          start the session, then throw a RuntimeException (driver FAILED)
// The app name is not set here: it comes from `spark.app.name` in the submission.
// Every line the app prints starts with `drover-test-app ` so tests can grep for it.

import java.util.Arrays;

import org.apache.spark.sql.SparkSession;

public final class DroverTestApp {
    private DroverTestApp() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "ok";
        System.out.println("drover-test-app args=" + Arrays.toString(args));
        if (!mode.equals("ok") && !mode.equals("sleep") && !mode.equals("fail")) {
            throw new IllegalArgumentException("drover-test-app: unknown mode '" + mode
                    + "' (expected ok | sleep <secs> | fail)");
        }

        SparkSession spark = SparkSession.builder().getOrCreate();
        System.out.println("drover-test-app started app-name=" + spark.sparkContext().appName()
                + " app-id=" + spark.sparkContext().applicationId());
        System.out.flush();
        try {
            switch (mode) {
                case "ok": {
                    // sum of 0..999 computed by an executor: proves a real job ran.
                    long sum = spark.range(1000).selectExpr("sum(id) AS s").first().getLong(0);
                    System.out.println("drover-test-app result=" + sum);
                    break;
                }
                case "sleep": {
                    long secs = args.length > 1 ? Long.parseLong(args[1]) : 600L;
                    System.out.println("drover-test-app sleeping " + secs);
                    System.out.flush();
                    Thread.sleep(secs * 1000L);
                    System.out.println("drover-test-app slept " + secs);
                    break;
                }
                default: {
                    throw new RuntimeException("drover-test-app: failing on purpose");
                }
            }
        } finally {
            System.out.flush();
            spark.stop();
        }
    }
}
