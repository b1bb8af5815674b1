"""Unit tests of the pure modules (api.py, validate.py, sdk.py), on any
Python 3.11+: `python3 -m unittest` in this folder. app.py and transport.py
need the bindings componentize-py generates, so they are tested as a
component: `drover plugins check livy.wasm --against URL`."""

import json
import unittest

import api
import sdk
import validate
from sdk import Application, PluginError, Resources, Settings


def app() -> Application:
    return Application(
        name="nightly etl",
        resource="hdfs:///jobs/etl.jar",
        main_class="com.example.Etl",
        args=["--day", "2026-01-01"],
        conf=[("spark.sql.shuffle.partitions", "8"), ("spark.archives", "env.tar.gz#env, data.zip")],
        deploy_mode="cluster",
        driver=Resources(memory_mb=1024, cores=1),
        executor=Resources(memory_mb=2048, cores=2, instances=3),
        jars=["hdfs:///libs/a.jar"],
        files=["conf.yaml"],
        env=[("TZ", "UTC")],
    )


def batch(id_, name, state, log=()):
    return api.Batch(id=id_, name=name, state=state, log=list(log))


class Api(unittest.TestCase):
    def test_the_applications_proxy_user_wins_over_the_backends(self):
        opts = api.BatchOptions(proxy_user="etl")
        a = app()
        a.proxy_user = "analyst"
        self.assertEqual(api.create_batch("k-1", a, opts)["proxyUser"], "analyst")
        a.proxy_user = None
        self.assertEqual(api.create_batch("k-1", a, opts)["proxyUser"], "etl")

    def test_a_proxy_user_with_white_space_is_refused(self):
        a = app()
        a.proxy_user = "two words"
        problems = validate.problems(Settings([("url", "http://livy:8998")]), a)
        self.assertEqual([p.field for p in problems], ["proxy_user"])

    def test_the_post_body_carries_the_application_and_the_key(self):
        opts = api.BatchOptions(proxy_user="etl", queue="root.etl")
        self.assertEqual(
            api.create_batch("k-1", app(), opts),
            {
                "file": "hdfs:///jobs/etl.jar",
                "className": "com.example.Etl",
                "args": ["--day", "2026-01-01"],
                "jars": ["hdfs:///libs/a.jar"],
                "files": ["conf.yaml"],
                "archives": ["env.tar.gz#env", "data.zip"],
                "driverMemory": "1024m",
                "driverCores": 1,
                "executorMemory": "2048m",
                "executorCores": 2,
                "numExecutors": 3,
                "queue": "root.etl",
                "name": "k-1",
                "proxyUser": "etl",
                "conf": {
                    "spark.sql.shuffle.partitions": "8",
                    "spark.app.name": "nightly etl",
                    "spark.yarn.appMasterEnv.TZ": "UTC",
                    "spark.kubernetes.driverEnv.TZ": "UTC",
                    "spark.drover.submissionKey": "k-1",
                },
            },
        )

    def test_a_minimal_python_batch_leaves_unset_fields_out(self):
        a = app()
        a.resource = "local:///app/main.py"
        a.main_class = "  "
        a.args = []
        a.conf = [("spark.app.name", "mine"), ("spark.yarn.queue", "adhoc")]
        a.driver = Resources()
        a.executor = Resources()
        a.jars, a.files, a.env = [], [], []
        a.py_files = ["deps.zip"]
        self.assertEqual(
            api.create_batch("k-2", a, api.BatchOptions()),
            {
                "file": "local:///app/main.py",
                "pyFiles": ["deps.zip"],
                "queue": "adhoc",
                "name": "k-2",
                "conf": {"spark.app.name": "mine", "spark.drover.submissionKey": "k-2"},
            },
        )

    def test_livy_states_map_onto_drover_phases(self):
        cases = {
            "not_started": sdk.SUBMITTED,
            "starting": sdk.QUEUED,
            "recovering": sdk.UNKNOWN,
            "idle": sdk.RUNNING,
            "running": sdk.RUNNING,
            "busy": sdk.RUNNING,
            "shutting_down": sdk.RUNNING,
            "success": sdk.SUCCEEDED,
            "error": sdk.FAILED,
            "dead": sdk.FAILED,
            "killed": sdk.KILLED,
            "exploded": sdk.UNKNOWN,
        }
        for state, want in cases.items():
            self.assertEqual(api.phase(state), want, state)
        for state in ("success", "error", "dead", "killed"):
            self.assertTrue(api.is_terminal(api.phase(state)), state)
        for state in ("not_started", "starting", "recovering", "running", "shutting_down"):
            self.assertFalse(api.is_terminal(api.phase(state)), state)

    def test_a_batch_object_parses_and_its_status_has_the_links_and_the_reason(self):
        b = api.Batch.parse(
            json.loads(
                """{"id": 7, "name": "k-7", "owner": null, "proxyUser": null, "state": "dead",
                "appId": "application_1_0007",
                "appInfo": {"driverLogUrl": "http://nm/logs", "sparkUiUrl": null},
                "log": ["stdout: ", "starting", "\\nstderr: ",
                        "Exception in thread \\"main\\" java.lang.RuntimeException: boom"]}"""
            )
        )
        self.assertEqual((b.id, b.name), (7, "k-7"))
        st = api.driver_status(b)
        self.assertEqual((st.phase, st.raw_state), (sdk.FAILED, "dead"))
        self.assertEqual(st.tracking_url, "http://nm/logs")
        self.assertTrue(st.message.startswith("Livy batch 7 ended dead: starting\n"), st.message)
        self.assertTrue(st.message.endswith("RuntimeException: boom"), st.message)
        self.assertNotIn("stderr", st.message)

        running = batch(8, None, "running")
        running.app_id = "application_1_0008"
        self.assertEqual(api.driver_status(running).message, "cluster application application_1_0008")
        self.assertEqual(api.driver_status(batch(9, None, "error")).message, "Livy batch 9 ended error")

    def test_replies_of_the_wrong_shape_are_parse_errors(self):
        for bad in ([], {"state": "running"}, {"id": -1, "state": "x"}, {"id": "7", "state": "x"}, {"id": 1, "state": 2}):
            with self.assertRaises(api.ParseError, msg=repr(bad)):
                api.Batch.parse(bad)
        with self.assertRaises(api.ParseError):
            api.LogPage.parse({"log": [1]})

    def test_find_picks_the_newest_batch_with_the_key_as_name(self):
        page = api.BatchList.parse(
            {
                "from": 0,
                "total": 250,
                "sessions": [
                    {"id": 1, "name": "k-1", "state": "dead"},
                    {"id": 2, "name": None, "state": "running"},
                    {"id": 5, "name": "k-1", "state": "running"},
                    {"id": 3, "name": "k-10", "state": "running"},
                ],
            }
        )
        self.assertEqual(api.find_in(page.sessions, "k-1"), 5)
        self.assertIsNone(api.find_in(page.sessions, "k-2"))
        self.assertEqual(page.next_from(), 4)
        self.assertIsNone(api.BatchList(start=246, total=250, sessions=page.sessions).next_from())
        self.assertIsNone(api.BatchList(start=0, total=250, sessions=[]).next_from())

    def test_ids_are_decimal_batch_ids(self):
        self.assertEqual(api.parse_id("42"), 42)
        for bad in ("batch-1", "-1", "", "1.5", "99999999999999999999999"):
            with self.assertRaises(PluginError, msg=bad) as e:
                api.parse_id(bad)
            self.assertEqual(e.exception.kind, sdk.INVALID)

    def test_a_duplicate_name_refusal_is_recognised(self):
        self.assertTrue(
            api.is_duplicate_name(
                PluginError(sdk.REJECTED, 'http://livy/batches answered HTTP 400: "Duplicate session name: Some(k-1)"')
            )
        )
        self.assertFalse(api.is_duplicate_name(PluginError(sdk.REJECTED, "no")))
        self.assertFalse(api.is_duplicate_name(PluginError(sdk.UNAVAILABLE, "duplicate session name")))

    def test_log_chunks_are_byte_ranges_of_the_lines(self):
        data = api.log_bytes(["one", "two", "three"])
        self.assertEqual(data, b"one\ntwo\nthree\n")
        c = api.log_chunk(data, 0, 6, True)
        self.assertEqual((c.data, c.next_offset, c.total), (b"one\ntw", 6, 14))
        c = api.log_chunk(data, 6, 100, False)
        self.assertEqual((c.data, c.next_offset, c.total), (b"o\nthree\n", 14, None))
        # Past the end: nothing, and the offset stays where the log ends.
        c = api.log_chunk(data, 50, 10, True)
        self.assertEqual((len(c.data), c.next_offset), (0, 14))

    def test_log_pages_parse_with_or_without_a_total(self):
        p = api.LogPage.parse({"id": 1, "from": 0, "total": 2, "log": ["a", "b"]})
        self.assertEqual((p.total, len(p.log)), (2, 2))
        p = api.LogPage.parse({"id": 1, "from": 3, "size": 1, "log": ["a"]})
        self.assertEqual((p.start, p.total), (3, None))

    def test_streams_are_the_sections_of_the_log(self):
        lines = ["stdout: ", "hello", "\nstderr: ", "WARN x", "\nYARN Diagnostics: ", "AM died"]
        text = lambda stream: api.log_bytes(api.stream_lines(lines, stream)).decode()
        self.assertEqual(text("stdout"), "hello\n")
        self.assertEqual(text("stderr"), "WARN x\nAM died\n")
        self.assertEqual(len(api.stream_lines(["a", "b"], "stdout")), 2)
        self.assertEqual(api.stream_lines(["a", "b"], "stderr"), [])
        api.check_stream("stderr")
        with self.assertRaises(PluginError):
            api.check_stream("x")


def settings(**pairs) -> Settings:
    return Settings(list(pairs.items()))


class Validate(unittest.TestCase):
    def fields(self, problems):
        return [p.field for p in problems]

    def test_a_cluster_mode_application_with_a_url_is_fine(self):
        s = settings(url="http://livy:8998", proxy_user="etl", queue="root.etl")
        self.assertEqual(validate.problems(s, app()), [])

    def test_client_and_service_modes_are_refused_with_the_reason(self):
        for mode in ("client", "service"):
            a = app()
            a.deploy_mode = mode
            p = validate.problems(settings(url="http://livy:8998"), a)
            self.assertEqual(self.fields(p), ["deploy_mode"], mode)
            self.assertIn(mode, p[0].message)
            self.assertIn("cluster mode only", p[0].message)
            self.assertEqual(p[0].hint, validate.DEPLOY_MODE_HINT)

    def test_a_missing_or_bad_url_is_named(self):
        self.assertEqual(self.fields(validate.problems(settings(), app())), ["backend.url"])
        p = validate.problems(settings(url="livy:8998"), app())
        self.assertEqual(self.fields(p), ["backend.url"])
        self.assertIn("bad URL", p[0].message)

    def test_bad_settings_and_resources_are_reported_together(self):
        a = app()
        a.resource = " "
        a.executor.cores = 0
        p = validate.problems(settings(url="http://livy:8998", queue="root etl"), a)
        self.assertEqual(self.fields(p), ["backend.queue", "resource", "executor"])


class Sdk(unittest.TestCase):
    def test_blank_settings_count_as_unset_and_the_last_wins(self):
        s = Settings([("a", "  "), ("b", " x "), ("c", "1"), ("c", "2")])
        self.assertIsNone(s.get("a"))
        self.assertEqual((s.get("b"), s.get("c"), s.get_or("a", "d")), ("x", "2", "d"))
        with self.assertRaises(PluginError) as e:
            s.require("rest_url")
        self.assertEqual(e.exception.kind, sdk.INVALID)
        self.assertIn("`rest_url`", e.exception.message)
        s = Settings([("y", "Yes"), ("n", "0"), ("m", "maybe")])
        self.assertEqual((s.get_bool("y", False), s.get_bool("n", True), s.get_bool("z", True)), (True, False, True))
        with self.assertRaises(PluginError):
            s.get_bool("m", False)

    def test_parse_url_splits_scheme_authority_and_path(self):
        p = sdk.parse_url("http://master:6066/v1/submissions/status/driver-1?x=1#frag")
        self.assertEqual(p, sdk.UrlParts(False, "master:6066", "master", "/v1/submissions/status/driver-1?x=1"))
        p = sdk.parse_url("HTTPS://[::1]:8443")
        self.assertEqual((p.https, p.host, p.path_with_query), (True, "::1", "/"))
        self.assertEqual(sdk.parse_url("http://h?q").path_with_query, "/?q")
        for bad in ("spark://master:7077", "master:6066", "http://", "http://u:p@h/"):
            with self.assertRaises(PluginError, msg=bad) as e:
                sdk.parse_url(bad)
            self.assertEqual(e.exception.kind, sdk.INVALID)

    def test_join_encode_and_excerpt(self):
        self.assertEqual(sdk.join("http://h:8080/", "/json/"), "http://h:8080/json/")
        self.assertEqual(sdk.encode_component("driver-1 a/b"), "driver-1%20a%2Fb")
        self.assertEqual(sdk.excerpt("  short  ", 10), "short")
        self.assertEqual(sdk.excerpt("ééé", 3), "é…")

    def test_unparsed_replies_are_errors_chosen_by_status(self):
        def err(status, body="nope"):
            return sdk.Response(status, [], body.encode()).unparsed_error("u", "why")

        self.assertEqual(err(404).kind, sdk.NOT_FOUND)
        self.assertEqual(err(503).kind, sdk.UNAVAILABLE)
        self.assertEqual(err(429).kind, sdk.UNAVAILABLE)
        self.assertEqual(err(400).kind, sdk.REJECTED)
        garbage = err(200, "<html>oops</html>")
        self.assertEqual(garbage.kind, sdk.PROTOCOL)
        self.assertIn("<html>oops", garbage.message)
        self.assertIn("an empty body", err(500, " ").message)
        with self.assertRaises(PluginError) as e:
            sdk.Response(200, [], b"<html>").json("http://h/x")
        self.assertEqual(e.exception.kind, sdk.PROTOCOL)
        self.assertEqual(sdk.Response(400, [], b'{"message":"bad"}').json("u"), {"message": "bad"})

    def test_transport_failures_map_like_the_rust_sdk(self):
        denied = sdk.error_for(sdk.DENIED, "HttpRequestDenied", "http://evil:1/x", "evil")
        self.assertEqual(
            denied, PluginError(sdk.UNAVAILABLE, "request to evil denied by drover: add it to the backend's allowed_hosts")
        )
        refused = sdk.error_for(sdk.UNREACHABLE, "connection refused by h", "http://h:1/x", "h")
        self.assertEqual(refused.kind, sdk.UNAVAILABLE)
        self.assertIn("http://h:1/x", refused.message)
        # A lost answer: a GET can be asked again, a POST or DELETE is in doubt.
        self.assertEqual(sdk.answer_lost("GET", refused), refused)
        for method in ("POST", "DELETE"):
            lost = sdk.answer_lost(method, refused)
            self.assertEqual(lost.kind, sdk.IN_DOUBT)
            self.assertIn("may have been applied", lost.message)
        bad = sdk.error_for(sdk.BAD_RESPONSE, "h answered with broken HTTP", "u", "h")
        self.assertEqual(sdk.answer_lost("POST", bad).kind, sdk.PROTOCOL)

    def test_resolve_asks_only_the_missing_ids_and_keeps_errors_per_id(self):
        ids = ["d0", "d1", "d2", "d3"]
        asked = []

        def per_id(id_):
            asked.append(id_)
            if id_ == "d1":
                return sdk.DriverStatus(sdk.RUNNING, "P1")
            if id_ == "d3":
                raise PluginError(sdk.NOT_FOUND, "gone")
            raise PluginError(sdk.UNAVAILABLE, "busy")

        listed = [sdk.DriverStatus(sdk.RUNNING, "L0"), None, None, None]
        out = sdk.resolve(ids, listed, 10, 0, lambda: False, per_id)
        self.assertEqual(asked, ["d1", "d2", "d3"])
        self.assertEqual([s and s.raw_state for s in out], ["L0", "P1", "", None])
        self.assertEqual(out[2].phase, sdk.UNKNOWN)
        self.assertIn("busy", out[2].message)

    def test_resolve_is_bounded_and_rotates(self):
        ids = [f"d{i}" for i in range(5)]

        def run(rotation):
            asked = []
            out = sdk.resolve(ids, [None] * 5, 2, rotation, lambda: False, lambda i: asked.append(i) or sdk.DriverStatus(sdk.RUNNING, "P"))
            return asked, sum(1 for s in out if s.phase == sdk.UNKNOWN)

        self.assertEqual(run(0), (["d0", "d1"], 3))
        self.assertEqual(run(3), (["d3", "d4"], 3))
        self.assertEqual(run(9), (["d4", "d0"], 3))


if __name__ == "__main__":
    unittest.main()
