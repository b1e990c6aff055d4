"""What a client and an operator see of Nginx in front of the back-ends it was given
(testinfra over Molecule's SSH inventory; the client is this controller). The back-ends
are two stand-ins on the host's loopback, answering JSON that names them (b9001, b9002)."""

import http.client
import json
import time

import pytest


def request(values, method="GET", path="/models", body=b"", headers=None):
    """(status, headers, parsed JSON body) of one request through this host's Nginx."""
    conn = http.client.HTTPConnection(values["ansible_host"], values["nginx_port"], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        return response.status, response.headers, json.loads(raw) if raw else None
    finally:
        conn.close()


def predict(values):
    return request(values, "POST", "/predict", b"{}", {"Content-Type": "application/json"})


def start_backend(host, port: int) -> None:
    """Start a stand-in back-end again (prepare.yml's transient unit, gone once stopped)."""
    started = host.run(
        "systemd-run --unit=backend-%s python3 /usr/local/bin/molecule-backend.py %s",
        str(port),
        str(port),
    )
    assert started.rc == 0, started.stderr
    host.run(
        "for i in $(seq 50); do ss -Htln sport = :%s | grep -q . && break; sleep 0.1; done",
        str(port),
    )


@pytest.fixture
def container(values, inspect):
    """container(): what docker inspect shows of Nginx's container now."""
    return lambda: inspect(values["nginx_container_name"])


def test_nginx_is_healthy_and_answers_its_health_endpoint_on_loopback(host, values, container):
    assert container()["State"]["Health"]["Status"] == "healthy"
    url = f"http://127.0.0.1:{values['nginx_healthz_port']}/healthz"
    healthz = host.run(
        "python3 -c %s", f"import urllib.request as u; print(u.urlopen('{url}').status)"
    )
    assert healthz.stdout.strip() == "200", healthz.stderr


def test_its_connection_counters_answer_on_loopback_only(host, values):
    """stub_status, what the nginx_exporter role reads: on 127.0.0.1, not the host's address."""
    url = f"http://127.0.0.1:{values['nginx_healthz_port']}/stub_status"
    status = host.run(
        "python3 -c %s", f"import urllib.request as u; print(u.urlopen('{url}').read().decode())"
    )
    assert status.stdout.startswith("Active connections:"), status.stdout + status.stderr
    assert "server accepts handled requests" in status.stdout
    outside = f"http://{values['ansible_host']}:{values['nginx_healthz_port']}/stub_status"
    refused = host.run(
        "python3 -c %s", f"import urllib.request as u; u.urlopen('{outside}', timeout=3)"
    )
    assert refused.rc != 0 and "Connection refused" in refused.stderr, (
        refused.stdout + refused.stderr
    )


def test_requests_reach_every_upstream_it_was_given_with_the_request_id(values):
    seen = set()
    for _ in range(8):
        status, headers, body = request(values)
        assert status == 200
        assert body["request_id"] == headers["X-Request-Id"]
        seen.add(body["backend"])
    assert seen == {"b9001", "b9002"}


def test_a_scope_named_in_x_scope_goes_to_one_backend_and_others_are_spread(host, values):
    """Consistent hashing of X-Scope: each scope sticks to one back-end, the scopes cover
    both; when a scope's back-end stops, the other takes it (no failed request). Without
    the header, requests go round robin (the test above)."""

    def backend(scope):
        headers = {"Content-Type": "application/json", "X-Scope": scope}
        status, _, body = request(values, "POST", "/predict", b"{}", headers)
        assert status == 200
        return body["backend"]

    owners = {scope: {backend(scope) for _ in range(4)} for scope in map(str, range(1, 21))}
    assert all(len(seen) == 1 for seen in owners.values()), owners
    assert set().union(*owners.values()) == {"b9001", "b9002"}
    moved = next(s for s, seen in owners.items() if seen == {"b9002"})
    assert host.run("systemctl stop backend-9002").rc == 0
    try:
        assert {backend(moved) for _ in range(4)} == {"b9001"}
    finally:
        start_backend(host, 9002)


@pytest.mark.parametrize(
    "status, method, path, body, headers",
    [
        (413, "POST", "/predict", b"[" + b" " * 2097152 + b"]", {}),
        (400, "POST", "/predict", b"{}", {"X-Padding": "x" * 40960}),
        (414, "GET", "/" + "p" * 10240, b"", {}),
    ],
    ids=["body too large", "header too large", "uri too long"],
)
def test_nginx_own_errors_are_json_naming_the_request(values, status, method, path, body, headers):
    got, answer_headers, answer = request(values, method, path, body, headers)
    assert got == status
    assert answer_headers["Content-Type"].startswith("application/json")
    assert answer["status"] == status and answer["error"]
    assert answer["request_id"] == answer_headers["X-Request-Id"]
    assert answer_headers["Server"] == "nginx"


def test_a_stopped_backend_costs_no_failed_prediction(host, values):
    assert host.run("systemctl stop backend-9002").rc == 0
    try:
        answers = [predict(values) for _ in range(10)]
        assert [status for status, _, _ in answers] == [200] * 10
        assert {body["backend"] for _, _, body in answers} == {"b9001"}
    finally:
        start_backend(host, 9002)


def test_a_bad_rate_limit_is_refused_and_nginx_keeps_serving(values, container, playbook):
    before = container()["Id"]
    run = playbook("converge.yml", "-e", "nginx_rate_limit=fast")
    out = run.stdout + run.stderr
    assert run.returncode == 2, out
    assert 'nginx_rate_limit="fast"' in out and "Fix: correct them" in out
    assert container()["Id"] == before
    assert request(values)[0] == 200


def test_a_new_upstream_list_is_loaded_without_restarting_nginx(values, container, playbook):
    before = container()
    run = playbook("converge.yml", "-e", '{"nginx_upstream_servers": ["127.0.0.1:9002"]}')
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Reload Nginx" in run.stdout
    after = container()
    assert (after["Id"], after["State"]["StartedAt"]) == (
        before["Id"],
        before["State"]["StartedAt"],
    )
    assert {request(values)[2]["backend"] for _ in range(6)} == {"b9002"}


def test_a_rate_limit_answers_json_429_with_retry_after(values, playbook):
    run = playbook("converge.yml", "-e", "nginx_rate_limit=1r/m nginx_rate_limit_burst=0")
    assert run.returncode == 0, run.stdout + run.stderr
    statuses = []
    for _ in range(3):
        status, headers, body = predict(values)
        statuses.append(status)
    assert statuses[0] == 200 and statuses[1:] == [429, 429]
    assert headers["Retry-After"] == "1"
    assert body["status"] == 429 and "limit 1r/m" in body["error"]
    # Other paths are not limited.
    assert request(values)[0] == 200


def test_with_every_backend_stopped_nginx_answers_a_json_502(host, values):
    assert host.run("systemctl stop backend-9001 backend-9002").rc == 0
    status, headers, body = request(values)
    deadline = time.monotonic() + 10
    while status != 502 and time.monotonic() < deadline:
        status, headers, body = request(values)
    assert status == 502
    assert headers["Retry-After"] == "1"
    assert body["status"] == 502 and "no serving back-end" in body["error"]
    assert body["request_id"] == headers["X-Request-Id"]
