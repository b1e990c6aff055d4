"""The serving role's roll-out plan (roles/serving/filter_plugins/serving.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "serving_filters", ROOT / "roles/serving/filter_plugins/serving.py"
)
serving_filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serving_filters)

NS = "analytics-platform.serving"
PORTS = {"a": 8001, "b": 8101}


def container(slot, color, config="new", state="running", healthy=True):
    port = PORTS[color] + slot - 1
    return {
        "Names": [f"/serving-{slot}{color}"],
        "State": state,
        "Status": "Up 1 minute (healthy)" if healthy else "Up 1 minute (unhealthy)",
        "Labels": {
            f"{NS}.slot": str(slot),
            f"{NS}.color": color,
            f"{NS}.port": str(port),
            "analytics-platform.config": config,
        },
    }


def plan(containers, slots=2):
    return serving_filters.serving_plan(containers, slots, "new", "10.0.0.5", PORTS, "serving", NS)


def test_first_deploy_starts_every_slot_in_place_a():
    p = plan([])
    assert [s["start"]["name"] for s in p["slots"]] == ["serving-1a", "serving-2a"]
    assert [s["start"]["endpoint"] for s in p["slots"]] == ["10.0.0.5:8001", "10.0.0.5:8002"]
    assert p["endpoints"] == [] and p["healthy"] == 0


def test_current_slots_are_kept():
    p = plan([container(1, "a"), container(2, "b")])
    assert all(s["start"] is None and s["retire"] == [] for s in p["slots"])
    assert p["endpoints"] == ["10.0.0.5:8001", "10.0.0.5:8102"]
    assert p["healthy"] == 2


def test_outdated_slot_starts_in_the_other_place_and_retires_the_old():
    p = plan([container(1, "a", config="old"), container(2, "a")])
    one = p["slots"][0]
    assert one["start"]["name"] == "serving-1b" and one["start"]["port"] == 8101
    assert [r["name"] for r in one["retire"]] == ["serving-1a"]
    assert p["slots"][1]["start"] is None


def test_interrupted_rollout_with_both_places_outdated_frees_one_first():
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
    assert p["endpoints"] == []
