"""The serving role's roll-out plan (roles/serving/filter_plugins/serving.py)."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "serving_filters", ROOT / "roles/serving/filter_plugins/serving.py"
)
serving_filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serving_filters)

NS = "analytics-platform.serving"
CONFIG = "analytics-platform.config"
PORT = 8001
IMAGE = "serving:v2"


def container(slot, color, config="new", state="running", healthy=True, image=IMAGE, previous=""):
    labels = {f"{NS}.slot": str(slot), f"{NS}.color": color, CONFIG: config}
    if previous:
        labels[f"{NS}.previous"] = previous
    return {
        "Names": [f"/serving-{slot}{color}"],
        "State": state,
        "Status": "Up 1 minute (healthy)" if healthy else "Up 1 minute (unhealthy)",
        "Image": image,
        "Labels": labels,
    }


def plan(containers, slots=2):
    return serving_filters.serving_plan(
        containers, slots, "new", "10.0.0.5", PORT, "serving", NS, IMAGE, CONFIG
    )


def test_first_deploy_starts_every_slot_as_a_on_the_slot_address():
    p = plan([])
    assert [s["start"]["name"] for s in p["slots"]] == ["serving-1a", "serving-2a"]
    assert [s["endpoint"] for s in p["slots"]] == ["10.0.0.5:8001", "10.0.0.5:8002"]
    assert p["healthy"] == 0 and all(s["previous"] == "" for s in p["slots"])


def test_the_upstream_lists_the_slots_whatever_runs():
    # Nginx's upstream depends on the inventory only: no roll-out changes it.
    for containers in (
        [],
        [container(1, "a")],
        [container(1, "b", config="old"), container(2, "a")],
    ):
        assert plan(containers)["endpoints"] == ["10.0.0.5:8001", "10.0.0.5:8002"]


def test_current_slots_are_kept():
    p = plan([container(1, "a"), container(2, "b")])
    assert all(s["start"] is None and s["retire"] == [] for s in p["slots"])
    assert p["healthy"] == 2


def test_outdated_slot_starts_under_the_other_name_and_retires_the_old():
    p = plan([container(1, "a", config="old", image="serving:v1"), container(2, "a")])
    one = p["slots"][0]
    assert one["start"]["name"] == "serving-1b" and one["endpoint"] == "10.0.0.5:8001"
    assert [r["name"] for r in one["retire"]] == ["serving-1a"]
    assert one["previous"] == "serving:v1"  # the rollback target
    assert p["slots"][1]["start"] is None


def test_a_new_setting_with_the_same_image_keeps_the_rollback_target():
    p = plan([container(1, "a", config="old", previous="serving:v1")], slots=1)
    assert p["slots"][0]["previous"] == "serving:v1"


def test_interrupted_rollout_with_both_names_outdated_frees_one_first():
    p = plan([container(1, "a", config="old"), container(1, "b", config="old", healthy=False)])
    one = p["slots"][0]
    assert [r["name"] for r in one["retire_first"]] == ["serving-1b"]
    assert one["start"]["name"] == "serving-1b"
    assert [r["name"] for r in one["retire"]] == ["serving-1a"]


def test_leftover_beside_a_current_container_is_retired():
    p = plan([container(1, "a", config="old"), container(1, "b")], slots=1)
    assert p["slots"][0]["start"] is None
    assert [r["name"] for r in p["slots"][0]["retire"]] == ["serving-1a"]


def test_slots_beyond_the_count_are_surplus():
    p = plan([container(1, "a"), container(2, "a"), container(3, "b")], slots=2)
    assert [s["name"] for s in p["surplus"]] == ["serving-3b"]


def test_stopped_current_container_is_replaced():
    p = plan([container(1, "a", state="exited", healthy=False)], slots=1)
    assert p["slots"][0]["start"]["name"] == "serving-1a"
    assert p["slots"][0]["retire"] == []


def test_rollback_image_is_the_one_before_the_last_rollout():
    def rollback(containers, ns):
        return serving_filters.serving_rollback_image(containers, ns, CONFIG)

    running = [container(1, "b", previous="serving:v1"), container(2, "b", previous="serving:v1")]
    assert rollback(running + [container(3, "a")], NS) == "serving:v1"
    with pytest.raises(AnsibleFilterError, match="no previous serving image"):
        rollback([container(1, "a")], NS)
    with pytest.raises(AnsibleFilterError, match="different images .*Fix"):
        rollback(
            [container(1, "b", previous="serving:v1"), container(2, "b", previous="serving:v0")], NS
        )


def test_a_back_end_of_the_earlier_layout_on_the_slot_port_stops_first():
    # Before slots shared an address, place a listened on 8001 + i - 1 and place b on
    # 8101 + i - 1, without SO_REUSEPORT: the one on the slot's port must go first.
    old_a = container(1, "a", config="old")
    old_a["Labels"][f"{NS}.port"] = "8001"
    old_b = container(2, "b", config="old")
    old_b["Labels"][f"{NS}.port"] = "8102"
    one, two = plan([old_a, old_b])["slots"]
    assert [r["name"] for r in one["retire_first"]] == ["serving-1a"]
    assert one["start"]["name"] == "serving-1b" and one["retire"] == []
    assert two["retire_first"] == [] and [r["name"] for r in two["retire"]] == ["serving-2b"]
    assert two["start"]["name"] == "serving-2a"
