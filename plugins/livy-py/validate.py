"""What Livy would refuse, found at DAG load time without a network call."""

from __future__ import annotations

from sdk import Application, PluginError, Problem, Settings, parse_url, quote

# Why a deploy mode other than cluster is refused.
DEPLOY_MODE = (
    "Livy runs batches in cluster mode only: its server runs "
    "spark-submit --deploy-mode cluster, so the driver runs in the cluster, never in a "
    "process drover supervises, and the DAG chooses no service mode"
)
DEPLOY_MODE_HINT = 'use deploy_mode = "cluster"'


def problems(settings: Settings, app: Application) -> list[Problem]:
    found: list[Problem] = []
    url = settings.get("url")
    if url is None:
        found.append(
            Problem(
                "backend.url",
                "the livy backend needs the url setting (the Livy server's address)",
                'set url = "http://livy-server:8998" on the backend',
            )
        )
    else:
        try:
            parse_url(url)
        except PluginError as e:
            found.append(Problem("backend.url", e.message, "use http://host:port or https://host:port"))
    for key in ("proxy_user", "queue"):
        v = settings.get(key)
        if v is not None and any(c.isspace() for c in v):
            found.append(
                Problem(
                    f"backend.{key}",
                    f"{quote(v)} has white space in it; Livy would pass it to spark-submit as it is",
                    f'set {key} to a single word, e.g. "etl"',
                )
            )
    if app.proxy_user is not None and any(c.isspace() for c in app.proxy_user):
        found.append(
            Problem(
                "proxy_user",
                f"{quote(app.proxy_user)} has white space in it; Livy would pass it to spark-submit as it is",
                'set proxy_user to a single word, e.g. "etl"',
            )
        )
    if app.deploy_mode != "cluster":
        found.append(
            Problem(
                "deploy_mode",
                f"deploy mode {app.deploy_mode} is not supported: {DEPLOY_MODE}",
                DEPLOY_MODE_HINT,
            )
        )
    if not app.resource.strip():
        found.append(
            Problem(
                "resource",
                "Livy needs the application's file (the main jar or script) to create a batch",
                "set the task's jar or script to a path the Livy server's cluster can read, "
                "e.g. hdfs:///jobs/app.jar",
            )
        )
    for role, r in (("driver", app.driver), ("executor", app.executor)):
        if r.memory_mb == 0 or r.cores == 0:
            found.append(
                Problem(
                    role,
                    f"the {role}'s memory and cores must be more than zero",
                    'leave them out for the cluster\'s defaults, or use sizes like "512m" and whole core counts',
                )
            )
    return found
