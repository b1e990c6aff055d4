"""What a user of the docker role observes on each host (testinfra, over Molecule's SSH
inventory): the engine runs under systemd with the settings the role merged, builds an
image with no registry, and publishes a container's port. The docker_ce path, whose
repository is not reachable here, is proven by the role's own check-mode run: the
repository file it would write and the pinned packages it would install."""

import json

import pytest


def test_the_engine_runs_under_systemd(host):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_the_engine_keeps_containers_across_restarts_and_rotates_logs(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"


def test_daemon_json_holds_the_merged_log_options(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    # max-size from the scenario's docker_daemon_options, max-file from the role's default
    assert daemon["log-opts"] == {"max-size": "20m", "max-file": "3"}


def test_an_image_built_on_the_host_runs_with_a_published_port(host):
    # no registry here: the host's own /usr is a runnable root file system
    host.run_expect(
        [0],
        "docker image inspect verify-web:1 >/dev/null 2>&1 || "
        "tar --ignore-failed-read -C / -c usr lib lib64 bin etc/ld.so.cache 2>/dev/null"
        " | docker import - verify-web:1",
    )
    host.run("docker rm -f verify-web")
    try:
        host.run_expect(
            [0],
            "docker run -d --name verify-web -p 18080:8080 verify-web:1"
            " /usr/bin/python3 -m http.server 8080 --directory /usr",
        )
        answer = host.run(
            'for i in $(seq 20); do python3 -c "import urllib.request as u;'
            " print(u.urlopen('http://127.0.0.1:18080/', timeout=2).status)\" && exit 0;"
            " sleep 1; done; exit 1"
        )
        assert answer.rc == 0 and answer.stdout.strip().endswith("200"), answer.stderr
    finally:
        host.run("docker rm -f verify-web")


@pytest.fixture(scope="module")
def docker_ce_check(host, playbook):
    """check-docker-ce.yml under --check on this host, its results as JSON."""
    name = host.backend.get_hostname()
    run = playbook(
        "check-docker-ce.yml",
        "--check",
        "--diff",
        # The JSON callback alone: profile_tasks (on in the scenarios' config) would
        # print its timings on stdout before the JSON.
        env={
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
        },
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {
        # "docker : Add Docker's apt repository" -> the task's own name
        task["task"]["name"].split(" : ")[-1]: task["hosts"][name]
        for play in json.loads(run.stdout)["plays"]
        for task in play["tasks"]
        if name in task["hosts"]
    }


def test_the_docker_ce_path_would_add_dockers_repository(host, docker_ce_check):
    repo = docker_ce_check["Add Docker's apt repository"]
    release = host.system_info.codename
    assert repo["changed"] is True
    assert repo["dest"] == "/etc/apt/sources.list.d/docker.sources"
    assert "URIs: https://download.docker.com/linux/debian" in repo["repo"]
    assert f"Suites: {release}" in repo["repo"]
    assert "Components: stable" in repo["repo"]


def test_the_docker_ce_path_would_install_the_pinned_packages(host, docker_ce_check):
    install = docker_ce_check["Install Docker CE and its helpers"]
    names = install["invocation"]["module_args"]["name"]
    major = host.system_info.release.split(".")[0]
    pin = f"5:28.5.1-1~debian.{major}~{host.system_info.codename}"
    assert f"docker-ce={pin}" in names
    assert f"docker-ce-cli={pin}" in names
    assert "containerd.io" in names
