"""image_ship's decisions: which layers each host gets, which versions it keeps.

roles/image_ship/files/image_archive.py (the plan) and platform_stale_images (the prune, on
the hosts and on the controller), on the data the engine reports; the partial archive itself
is tested on real images: built, loaded and run on an engine that holds the other layers.
"""

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


archive = _load("image_archive", "roles/image_ship/files/image_archive.py")
platform = _load("platform_filters", "roles/platform/filter_plugins/platform.py")

CLASSIC = '[["Backing Filesystem","extfs"],["Supports d_type","true"]]'
CONTAINERD = '[["driver-type","io.containerd.snapshotter.v1"]]'
OS, PY, VENV, JAVA, SPARK, APPS, APPS2, SERVE = (f"sha256:{c * 64}" for c in "01234567")
IMAGES = {
    "spark": {"id": "sha256:spark2", "layers": [OS, PY, VENV, JAVA, SPARK, APPS2]},
    "serving": {"id": "sha256:serving1", "layers": [OS, PY, VENV, SERVE]},
    "nginx": {"id": "sha256:nginx1", "layers": [OS, "sha256:" + "8" * 64]},
}
ORDER = ["spark", "serving", "nginx"]


def host(want, images=(), store=CLASSIC):
    return {"want": want, "store": store, "images": list(images)}


def test_chain_ids_depend_on_every_layer_below():
    assert archive.chain_ids([OS]) == [OS]
    a, b = archive.chain_ids([OS, PY]), archive.chain_ids([PY, PY])
    assert a[1] != b[1] and a[1].startswith("sha256:")


def test_a_bare_host_gets_full_archives_and_each_shared_layer_once():
    plan = archive.decide(IMAGES, ORDER, host(["serving", "spark", "nginx"]))
    assert [(p["name"], p["full"], p["missing"]) for p in plan] == [
        ("spark", True, [0, 1, 2, 3, 4, 5]),
        ("serving", False, [3]),  # OS, Python and the venv came with spark
        ("nginx", False, [1]),  # the OS layer too
    ]


def test_a_one_line_change_ships_only_the_top_layer():
    old = {"id": "sha256:spark1", "layers": [OS, PY, VENV, JAVA, SPARK, APPS]}
    plan = archive.decide(IMAGES, ORDER, host(["spark"], [old]))
    assert [(p["name"], p["full"], p["missing"], p["of"]) for p in plan] == [
        ("spark", False, [5], 6)
    ]


def test_a_layer_is_held_only_on_the_same_layers_below():
    # the same diff ID on another base is another layer: docker load would need it
    other = {"id": "sha256:x", "layers": [PY, VENV, JAVA, SPARK, APPS2]}
    plan = archive.decide(IMAGES, ORDER, host(["spark"], [other]))
    assert plan[0]["full"]


def test_an_image_the_host_holds_is_not_shipped():
    assert archive.decide(IMAGES, ORDER, host(["spark"], [IMAGES["spark"]])) == []


def test_the_containerd_image_store_gets_full_archives():
    old = {"id": "sha256:spark1", "layers": [OS, PY, VENV, JAVA, SPARK, APPS]}
    plan = archive.decide(IMAGES, ORDER, host(["spark"], [old], store=CONTAINERD))
    assert plan[0]["full"] and "containerd" in plan[0]["reason"]


def _docker(*args, **kw):
    return subprocess.run(["docker", *args], check=True, capture_output=True, **kw)


def _build(ctx: Path, ref: str) -> None:
    """A tiny image with the classic builder (the engine's; no BuildKit cache in between)."""
    _docker(
        "build", "-q", "-t", ref, str(ctx), env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"}
    )


@pytest.fixture
def two_versions(tmp_path):
    """Two versions of a tiny image, built on the controller's engine and removed after:
    (refs, {ref: image_build's entry for it})."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("no Docker engine answers; start one with `make engine`")
    refs, big = [], os.urandom(2_000_000)
    try:
        for version in (1, 2):
            ctx = tmp_path / f"v{version}"
            ctx.mkdir()
            (ctx / "big").write_bytes(big)
            (ctx / "app").write_text(f"version {version}\n")
            (ctx / "Dockerfile").write_text(
                'FROM scratch\nCOPY big /big\nCOPY app /app\nCMD ["/app"]\n'
            )
            ref = f"analytics-platform-test/partial:{version}"
            _build(ctx, ref)
            refs.append(ref)
        info = json.loads(_docker("image", "inspect", *refs).stdout)
        yield (
            refs,
            {
                ref: {
                    "ref": ref,
                    "id": image["Id"],
                    "layers": image["RootFS"]["Layers"],
                    "archive": str(tmp_path / f"{ref.split(':')[1]}.tar.zst"),
                    "compress": ["zstd", "-q", "-3"],
                }
                for ref, image in zip(refs, info, strict=True)
            },
        )
    finally:
        subprocess.run(["docker", "rmi", *refs], capture_output=True)


def _layer_tars(archive_path: Path) -> list[bytes]:
    raw = subprocess.run(["zstd", "-dc", str(archive_path)], check=True, capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(raw.stdout)) as tar:
        return [tar.extractfile(m).read() for m in tar if m.name.endswith("/layer.tar")]


def _reload(path: Path, ref: str) -> str:
    """Remove the image, load the archive on the engine that holds the other layers: the
    loaded image's ID."""
    _docker("rmi", ref)
    subprocess.run(f"zstd -dc {path} | docker load", shell=True, check=True)
    return json.loads(_docker("image", "inspect", ref).stdout)[0]["Id"]


def test_a_partial_archive_loads_where_the_other_layers_are(two_versions, tmp_path):
    """The second version's partial archive, cut from docker save, carries one layer."""
    refs, images = two_versions
    held = [{"id": images[refs[0]]["id"], "layers": images[refs[0]]["layers"]}]
    plan = archive.decide(images, refs, host([refs[1]], held))
    assert [(p["full"], p["missing"]) for p in plan] == [(False, [1])]
    delta = archive.delta_path(images[refs[1]], plan[0]["missing"])
    learnt = archive.build_delta(images[refs[1]], plan[0]["missing"], delta, 3, {})
    # what it learnt (which directory holds which layer) skips the held layers unread
    # next time, and cuts the same archive
    assert sorted(learnt.values()) == sorted(images[refs[1]]["layers"])
    again = tmp_path / "again.tar.zst"
    archive.build_delta(images[refs[1]], plan[0]["missing"], again, 3, learnt)
    assert again.read_bytes() == delta.read_bytes()
    # cut from docker save: the full archive was never needed, so never written
    full = Path(images[refs[1]]["archive"])
    assert not full.exists()
    archive.export_full(images[refs[1]])
    assert delta.stat().st_size < 10_000 < full.stat().st_size
    assert len(_layer_tars(delta)) == 1
    assert _reload(delta, refs[1]) == images[refs[1]]["id"]


def test_a_partial_archive_from_the_engine_store_is_the_one_docker_save_cuts(
    two_versions, tmp_path
):
    """Read in place from the controller engine's layer store (no docker save): the same
    layer tarball byte for byte, and it loads. An unreadable store falls back to docker
    save, and says so."""
    refs, images = two_versions
    image = images[refs[1]]
    store = archive.engine_store()
    if store is None:
        if os.geteuid() == 0:
            pytest.fail("root, yet the engine's overlay2 layer store was not found readable")
        pytest.skip("the engine's layer store is readable by root only")
    from_save, from_store = tmp_path / "save.tar.zst", tmp_path / "store.tar.zst"
    archive.build_delta(image, [1], from_save, 3, {})
    archive.build_delta_from_store(store, image, [1], from_store, 3)
    assert _layer_tars(from_store) == _layer_tars(from_save)
    assert _reload(from_store, refs[1]) == image["id"]
    # a layer whose reassembled tarball is not its diff ID is refused
    chain = archive.chain_ids(image["layers"])[1]
    with pytest.raises(ValueError, match="differs"), open(tmp_path / "layer.tar", "wb") as sink:
        archive.store_layer(store, chain, image["layers"][0], sink)
    # no store to read: cut from docker save, loads all the same
    fallback = tmp_path / "fallback.tar.zst"
    archive.cut_delta(tmp_path / "no-engine-here", image, [1], fallback, 3, {})
    assert _layer_tars(fallback) == _layer_tars(from_save)
    assert _reload(fallback, refs[1]) == image["id"]


def test_a_layer_stored_as_a_link_keeps_its_target(tmp_path):
    """docker save stores a layer identical to one below it as a link to that one's
    tarball: when only the upper one is missing, the lower tarball travels all the same."""
    big, refs = os.urandom(500_000), []
    for version, lines in (
        (1, ["COPY big /big", "COPY app /app"]),
        (2, ["COPY big /big", "COPY app /app", "COPY big /big"]),
    ):
        ctx = tmp_path / f"v{version}"
        ctx.mkdir()
        (ctx / "big").write_bytes(big)
        os.utime(ctx / "big", (1_000_000, 1_000_000))
        (ctx / "app").write_text(f"version {version}\n")
        (ctx / "Dockerfile").write_text("FROM scratch\n" + "\n".join(lines) + "\n")
        ref = f"analytics-platform-test/linked:{version}"
        _build(ctx, ref)
        refs.append(ref)
    try:
        old, new = json.loads(_docker("image", "inspect", *refs).stdout)
        assert new["RootFS"]["Layers"][2] == new["RootFS"]["Layers"][0]  # the same layer twice
        image = {
            "ref": refs[1],
            "id": new["Id"],
            "layers": new["RootFS"]["Layers"],
            "archive": str(tmp_path / "v2.tar.zst"),
        }
        plan = archive.decide(
            {"v2": image},
            ["v2"],
            host(["v2"], [{"id": old["Id"], "layers": old["RootFS"]["Layers"]}]),
        )
        assert plan[0]["missing"] == [1, 2]
        delta = archive.delta_path(image, plan[0]["missing"])
        archive.build_delta(image, plan[0]["missing"], delta, 3, {})
        _docker("rmi", refs[1])
        subprocess.run(f"zstd -dc {delta} | docker load", shell=True, check=True)
        assert json.loads(_docker("image", "inspect", refs[1]).stdout)[0]["Id"] == new["Id"]
    finally:
        subprocess.run(["docker", "rmi", *refs], capture_output=True)


def _image(ident, tags, created):
    # as image_build makes them: the label holds the content tag (the first tag's)
    version = tags[0].split(":")[1]
    return {"Id": ident, "RepoTags": tags, "Created": created, "Labels": {LABEL: version}}


LABEL = "analytics-platform.version"


def stale(images, containers, built, keep):
    return platform.platform_stale_images(images, containers, built, keep, LABEL)


BUILT = {"serving": {"repo": "analytics-platform/serving", "id": "sha256:v4"}}


def test_prune_keeps_the_deployed_and_the_previous_version():
    images = [
        _image("sha256:v1", ["analytics-platform/serving:1"], 100),
        _image("sha256:v2", ["analytics-platform/serving:2"], 200),
        _image("sha256:v3", ["analytics-platform/serving:3"], 300),
        _image("sha256:v4", ["analytics-platform/serving:4"], 400),
        _image("sha256:o", ["someone-else/tool:1"], 50),
    ]
    assert stale(images, [], BUILT, 2) == [
        "analytics-platform/serving:1",
        "analytics-platform/serving:2",
    ]


def test_prune_keeps_what_a_container_uses_and_only_touches_platform_tags():
    images = [
        _image("sha256:v1", ["analytics-platform/serving:1", "mine/serving:pinned"], 100),
        _image("sha256:v2", ["analytics-platform/serving:2"], 200),
        _image("sha256:v3", ["analytics-platform/serving:3"], 300),
        _image("sha256:v4", ["analytics-platform/serving:4"], 400),
    ]
    assert stale(images, ["sha256:v2"], BUILT, 2) == ["analytics-platform/serving:1"]


def test_prune_never_counts_or_removes_a_tag_made_by_hand():
    # serving:molecule-upgrade is FROM the deployed version: it inherits the label, whose
    # value is not its tag. It is not a version, so v2 stays as the previous one.
    hand = _image("sha256:h", ["analytics-platform/serving:molecule-upgrade"], 500)
    hand["Labels"] = {LABEL: "4"}
    images = [
        _image("sha256:v2", ["analytics-platform/serving:2"], 200),
        _image("sha256:v4", ["analytics-platform/serving:4"], 400),
        hand,
        {"Id": "sha256:u", "RepoTags": ["analytics-platform/serving:mine"], "Created": 600},
    ]
    assert stale(images, [], BUILT, 2) == []
    assert stale(images, [], BUILT, 1) == ["analytics-platform/serving:2"]


def test_prune_with_keep_zero_keeps_every_version():
    images = [
        _image(f"sha256:v{i}", [f"analytics-platform/serving:{i}"], i * 100) for i in (1, 2, 3, 4)
    ]
    assert stale(images, [], BUILT, 0) == []


def test_prune_keeps_the_deployed_version_even_when_older():
    # a rollback deployed v1: v1 and the newest other (v3) stay
    images = [
        _image(f"sha256:v{i}", [f"analytics-platform/serving:{i}"], i * 100) for i in (1, 2, 3)
    ]
    built = {"serving": {"repo": "analytics-platform/serving", "id": "sha256:v1"}}
    assert stale(images, [], built, 2) == ["analytics-platform/serving:2"]


def test_prune_counts_the_deployed_version_before_it_is_loaded():
    # a host is read before its images are shipped: v4 is on its way, so v3 is the previous
    # one and v2 goes. docker image inspect gives the age as RFC 3339 (nanoseconds).
    images = [
        _image(
            f"sha256:v{i}",
            [f"analytics-platform/serving:{i}"],
            f"2026-11-0{i}T10:00:00.5{i}0000001Z",
        )
        for i in (1, 2, 3)
    ]
    assert stale(images, [], BUILT, 2) == [
        "analytics-platform/serving:1",
        "analytics-platform/serving:2",
    ]
    assert stale(images, ["sha256:v1"], BUILT, 2) == ["analytics-platform/serving:2"]


def test_prune_never_removes_the_deployed_tag_held_on_an_older_build():
    # the controller built content 3 again (same tag, new ID v3b): the host still holds
    # the tag on v3, and the load moves it to v3b. Removing the tag would remove v3b.
    images = [
        _image(f"sha256:v{i}", [f"analytics-platform/serving:{i}"], i * 100) for i in (1, 2, 3)
    ]
    built = {
        "serving": {
            "repo": "analytics-platform/serving",
            "ref": "analytics-platform/serving:3",
            "id": "sha256:v3b",
        }
    }
    assert stale(images, [], built, 2) == ["analytics-platform/serving:1"]


@pytest.fixture(scope="module")
def image_hosts(platform_values):
    return platform_values("platform_image_hosts")["platform_image_hosts"]


def test_each_host_runs_the_images_of_its_groups(image_hosts):
    hv = {
        "m": {"group_names": ["spark_master", "docker_hosts"], "jupyter_enabled": True},
        "w": {"group_names": ["spark_workers", "docker_hosts"]},
        "s": {"group_names": ["serving", "model_store", "docker_hosts"]},
    }
    # the daemons run Spark alone; the apps (spark) only where jobs are submitted
    assert platform.platform_host_images(image_hosts, hv["m"]) == [
        "jupyter",
        "spark",
        "spark_runtime",
    ]
    assert platform.platform_host_images(image_hosts, hv["w"]) == ["spark_runtime"]
    assert platform.platform_host_images(image_hosts, hv["s"]) == [
        "model_store",
        "nginx",
        "serving",
    ]
    assert platform.platform_needed_images(image_hosts, hv, ["w", "s"]) == [
        "model_store",
        "nginx",
        "serving",
        "spark_runtime",
    ]


def test_jupyter_is_built_only_where_it_is_enabled(image_hosts):
    hv = {"m": {"group_names": ["spark_master"], "jupyter_enabled": "false"}}
    assert platform.platform_needed_images(image_hosts, hv, ["m"]) == ["spark", "spark_runtime"]


IMAGE_BUILD_CHECK = """
- name: image_build's own checks, with the platform's images
  hosts: localhost
  gather_facts: false
  roles:
    - role: platform
  tasks:
    - name: Check the inputs
      ansible.builtin.include_role:
        name: image_build
        tasks_from: preflight.yml
      vars:
        image_build_needed: {needed}
        image_build_models: "{{{{ platform_models }}}}"
"""


@pytest.mark.parametrize("known", [True, False], ids=["every image a host runs", "unknown"])
def test_image_build_knows_every_image_a_host_runs(known, tmp_path, ansible_playbook):
    needed = '"{{ platform_image_hosts.keys() | list }}"' if known else "[spark, sparkk]"
    play = tmp_path / "play.yml"
    play.write_text(IMAGE_BUILD_CHECK.format(needed=needed))
    result = ansible_playbook(str(play), "-i", str(ROOT / "tests/inventories/good"))
    out = result.stdout + result.stderr
    if known:
        assert result.returncode == 0, out
    else:
        assert result.returncode == 2, out
        assert "image_build_needed names sparkk, which image_build_images does not define" in out


def _context(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/image_context.py"), "--name", "t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def test_a_build_argument_is_an_input_of_the_tag():
    # the UIDs the roles run the images as are build arguments: changing one rebuilds
    args = ["--image-dir", str(ROOT / "images/model_store")]
    plain = _context(*args)["tag"]
    uid = _context(*args, "--arg", "POSTGRES_UID=999")["tag"]
    assert plain != uid
    assert uid == _context(*args, "--arg", "POSTGRES_UID=999")["tag"]
    assert uid != _context(*args, "--arg", "POSTGRES_UID=998")["tag"]


def test_every_build_argument_the_images_declare_is_given(platform_values):
    # each ARG without a default in a Dockerfile's last stage comes from the platform
    given = platform_values("platform_image_build_args")["platform_image_build_args"]
    for name in ("base", "spark_runtime", "model_store"):
        dockerfile = (ROOT / f"images/{name}/Dockerfile").read_text()
        last = dockerfile.rsplit("\nFROM ", 1)[1]
        declared = {line.split()[1] for line in last.splitlines() if line.startswith("ARG ")}
        assert declared == set(given[name]), name
    # and every value is a number: the UIDs the roles run the images as
    assert all(str(v).isdigit() for args in given.values() for v in args.values()), given


def test_a_stage_run_alone_hashes_the_inputs_without_staging(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(ROOT / "apps/serving", app)
    args = [
        "--image-dir",
        str(ROOT / "images/nginx"),
        "--include",
        str(app),
        "--models",
        "code",
        "--models-dir",
        str(ROOT / "models"),
        "--model",
        "sales_forecast",
    ]
    staged = _context(*args, "--out", str(tmp_path / "ctx"))
    alone = _context(*args)
    assert alone["tag"] == staged["tag"] and "context" not in alone
    assert (tmp_path / "ctx/apps/app/wsgi.py").is_file()
    assert (tmp_path / "ctx/models/models.json").is_file()
    with open(app / "wsgi.py", "a") as f:
        f.write("# one more line\n")
    assert _context(*args)["tag"] != alone["tag"]


def test_a_maven_project_goes_in_as_its_cached_jar(tmp_path):
    # an included folder with a pom.xml takes the jar maven_jar.py cached for its
    # sources, under target/, and never a target/ folder of its own
    sys.path.insert(0, str(ROOT / "scripts"))
    from maven_jar import jar_for

    app = tmp_path / "logjob"
    shutil.copytree(ROOT / "apps/loganalytics", app, ignore=shutil.ignore_patterns("tests"))
    (app / "target").mkdir(exist_ok=True)
    (app / "target/stale.jar").write_bytes(b"from a hand-run mvn")
    jars = tmp_path / "jars"
    args = ["--image-dir", str(ROOT / "images/nginx"), "--include", str(app), "--jars", str(jars)]
    missing = subprocess.run(
        [sys.executable, str(ROOT / "scripts/image_context.py"), "--name", "t", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0
    assert "run the Maven step first" in missing.stderr

    jars.mkdir()
    jar_for(jars, app).write_bytes(b"jar of these sources")
    first = _context(*args, "--out", str(tmp_path / "ctx"))
    staged = sorted(
        p.relative_to(tmp_path / "ctx").as_posix() for p in (tmp_path / "ctx/apps").rglob("*.jar")
    )
    assert staged == ["apps/logjob/target/example-1.0.jar"]
    assert (
        tmp_path / "ctx/apps/logjob/target/example-1.0.jar"
    ).read_bytes() == b"jar of these sources"

    # a change to the sources asks for another jar; once built, the tag moves with it
    scala = next(app.rglob("Example.scala"))
    scala.write_text(scala.read_text() + "// one more line\n")
    jar_for(jars, app).write_bytes(b"jar of the new sources")
    assert _context(*args)["tag"] != first["tag"]


def test_extra_requirements_join_the_image_and_its_tag(tmp_path):
    # jupyter_tensorflow / jupyter_extra_requirements: more pins merged into the context's
    # requirements.txt; a conflicting pin or a missing file stops with the fix
    args = ["--image-dir", str(ROOT / "images/jupyter_libs"), "--wheelhouse", str(tmp_path)]

    def run(*more):
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts/image_context.py"), "--name", "t", *args, *more],
            capture_output=True,
            text=True,
            check=False,
        )

    extra = tmp_path / "team.txt"
    extra.write_text("# the team's\nseaborn==0.13.2\nmy-lib==1.0\n")
    (tmp_path / "my_lib-1.0-py3-none-any.whl").write_bytes(b"")
    pins = (ROOT / "images/jupyter_libs/requirements.txt").read_text()
    for line in pins.splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            (tmp_path / wheel).write_bytes(b"")
    plain = run()
    assert plain.returncode == 0, plain.stderr
    merged = run("--requirements", str(extra), "--out", str(tmp_path / "ctx"))
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["tag"] != json.loads(plain.stdout)["tag"]
    text = (tmp_path / "ctx/requirements.txt").read_text()
    assert text.startswith(pins) and text.endswith("# from team.txt\nmy-lib==1.0\n")
    assert (tmp_path / "ctx/wheels/my_lib-1.0-py3-none-any.whl").exists()

    extra.write_text("seaborn==0.12.0\n")
    clash = run("--requirements", str(extra))
    assert clash.returncode != 0
    assert "team.txt: seaborn==0.12.0, but" in clash.stderr and "pin one version" in clash.stderr
    gone = run("--requirements", str(tmp_path / "nope.txt"))
    assert "nope.txt: no such requirements file" in gone.stderr


def _plan(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/image_context.py"), "--plan"],
        input=json.dumps(spec),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def test_the_plan_resolves_what_the_engine_holds_and_leaves_the_rest_to_build(tmp_path):
    # one pass over every image: what the engine holds under its content tag is resolved,
    # the rest (and what starts from it) is to build; older archives are listed to go
    namespace = f"plan-test-{os.getpid()}"
    spec = {
        "images": [
            {"name": "front", "dir": "images/nginx"},
            {"name": "store", "dir": "images/model_store", "parent": "front"},
        ],
        "needed": ["store"],
        "repo_root": str(ROOT),
        "wheelhouse": str(tmp_path),
        "jars": str(tmp_path / "jars"),
        "models_dir": str(ROOT / "models"),
        "models": [],
        "label_keys": [],
        "args": {},
        "namespace": namespace,
        "archive_dir": str(tmp_path / "archives"),
        "archive_ext": "zst",
        "compress": ["zstd", "-q", "-3"],
        "keep_versions": 2,
    }
    first = _plan(spec)
    assert first["resolved"] == {} and first["pending"] == ["front", "store"]
    assert "is not on this engine" in first["reasons"]["front"]

    tag = _context("--image-dir", str(ROOT / "images/nginx"))["tag"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("front\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    subprocess.run(
        ["docker", "build", "-q", "-t", f"{namespace}/front:{tag}", str(ctx)], check=True
    )
    held = json.loads(
        subprocess.check_output(["docker", "image", "inspect", f"{namespace}/front:{tag}"])
    )[0]
    try:
        (tmp_path / "archives").mkdir()
        for n, name in enumerate(["front-1", "front-2", "store-1", "store-2", "store-3"]):
            path = tmp_path / "archives" / f"{name}.tar.zst"
            path.write_bytes(b"")
            os.utime(path, (1_000_000 + n, 1_000_000 + n))
        # the newest version of store has partial archives only (no host needed it whole)
        (tmp_path / "archives/deltas/store-4.tar.zst").mkdir(parents=True)
        second = _plan(spec)
    finally:
        subprocess.run(["docker", "rmi", f"{namespace}/front:{tag}"], check=True)
    front = second["resolved"]["front"]
    assert front["ref"] == f"{namespace}/front:{tag}" and front["id"] == held["Id"]
    assert front["layers"] == held["RootFS"]["Layers"]
    # named by tag and image ID: an image built again under the same tag gets a new one
    short = held["Id"].split(":")[1][:12]
    assert front["archive"] == f"{tmp_path}/archives/front-{tag}-{short}.tar.zst"
    assert second["pending"] == ["store"]
    assert front["compress"] == spec["compress"]
    # front is no host's: none of its archives stay; store is to build, so its newest
    # version (partial archives only) stays beside the new one
    stale = {Path(p).relative_to(tmp_path).as_posix() for p in second["stale_archives"]}
    names = ["front-1", "front-2", "store-1", "store-2", "store-3"]
    assert stale == {f"archives/{n}.tar.zst" for n in names} | {
        f"archives/deltas/{n}.tar.zst" for n in names
    }
