"""status.yml shows every tier and then fails naming each one that did not answer.

Here no tier runs: the good inventory's hosts are this machine (local connection), and
every tier's address is loopback on a port nothing listens on (9, discard). The cluster
scenario runs status.yml against the running lab, where it passes, and again with a
worker host stopped, where it names the Spark tier.
"""

import json

from test_preflight import GOOD

DOWN = {
    "platform_address": "127.0.0.1",
    "spark_master_webui_port": 9,
    "nginx_port": 9,
    "prometheus_port": 9,
}


def test_status_names_every_tier_that_does_not_answer(ansible_playbook):
    result = ansible_playbook(
        "playbooks/status.yml",
        "-i",
        str(GOOD),
        "--tags",
        "spark,model_store,serving,monitoring",
        "-e",
        json.dumps(DOWN),
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "Not answering, or alerting (details above):" in out, out
    assert "Spark: the master does not answer at http://127.0.0.1:9" in out, out
    assert "Model store: model-store on m1 does not answer" in out, out
    assert "Serving: http://127.0.0.1:9/models answered" in out, out
    assert "Prometheus: does not answer at http://127.0.0.1:9" in out, out
    # each tier was still shown
    assert "NOT ANSWERING" in out, out
