"""Aliases, their recorded moves, the quality gate, rollback and pruning (real PostgreSQL)."""

import json

import modelstore
from modelstore import versions
from modelstore.versions import Gate


def publish(dsn, mae_by_scope: dict, model="m", keep=5) -> int:
    models = {scope: (b"x", {"mae": mae}) for scope, mae in mae_by_scope.items()}
    return modelstore.publish_version(dsn, {}, models, keep=keep, model=model)


def served(dsn, model="m") -> int:
    return modelstore.served_versions(dsn)[model]["production"].id


def test_serving_follows_production_and_every_move_is_recorded(store_dsn):
    v1 = publish(store_dsn, {"a": 1.0})
    assert served(store_dsn) == v1  # no alias yet: the newest
    assert versions.gate(store_dsn, "m", v1, Gate("mae"))["alias"] == "production"
    v2 = publish(store_dsn, {"a": 5.0})
    assert served(store_dsn) == v1  # published, but production stays
    decision = versions.gate(store_dsn, "m", v2, Gate("mae", "min", 0.1))
    assert decision["alias"] == "candidate"
    assert (decision["new"], decision["production"], decision["scopes"]) == (5.0, 1.0, 1)
    assert "worse, refused production" in decision["reason"]
    assert served(store_dsn) == v1
    versions.set_alias(store_dsn, "m", "production", v2, by="command", why="trust me")
    assert served(store_dsn) == v2
    moves = versions.moves(store_dsn, "m")
    assert [(m["alias"], m["from"], m["to"], m["by"]) for m in moves] == [
        ("production", None, v1, "gate"),
        ("candidate", None, v2, "gate"),
        ("production", v1, v2, "command"),
    ]
    assert moves[2]["why"] == "trust me" and moves[0]["at"] <= moves[2]["at"]


def test_the_gate_judges_the_scopes_both_versions_have(store_dsn):
    v1 = publish(store_dsn, {"a": 1.0, "b": 1.0})
    versions.gate(store_dsn, "m", v1, Gate("mae"))
    # c is new (and terrible): only a and b count, where the new version is 5 % worse.
    v2 = publish(store_dsn, {"a": 1.05, "b": 1.05, "c": 99.0})
    decision = versions.gate(store_dsn, "m", v2, Gate("mae", "min", 0.1))
    assert decision["alias"] == "production" and decision["scopes"] == 2
    v3 = publish(store_dsn, {"a": 0.5})
    assert versions.gate(store_dsn, "m", v3, Gate("mae", "max", 0.0))["alias"] == "candidate"
    forced = versions.gate(store_dsn, "m", v3, Gate("mae", "max", 0.0), force=True)
    assert forced["alias"] == "production" and versions.moves(store_dsn, "m")[-1]["by"] == "command"


def test_rollback_goes_back_and_twice_goes_forward(store_dsn):
    v1, v2 = publish(store_dsn, {"a": 1.0}), publish(store_dsn, {"a": 1.0})
    for vid in (v1, v2):
        versions.set_alias(store_dsn, "m", "production", vid, by="command")
    assert versions.rollback(store_dsn, "m") == (v2, v1)
    assert served(store_dsn) == v1
    assert versions.rollback(store_dsn, "m") == (v1, v2)
    assert served(store_dsn) == v2


def test_mistakes_name_the_fix(store_dsn, capsys):
    assert versions.main(["--dsn", store_dsn, "list", "nope"]) == 2
    assert "model 'nope' has no published version: train it first" in capsys.readouterr().err
    v1 = publish(store_dsn, {"a": 1.0})
    assert versions.main(["--dsn", store_dsn, "promote", "m", str(v1 + 7)]) == 2
    assert f"no published version {v1 + 7} (pruned, or of another model); its versions: {v1}" in (
        capsys.readouterr().err
    )
    assert versions.main(["--dsn", store_dsn, "rollback", "m"]) == 2
    assert "no production version to go back to" in capsys.readouterr().err
    assert versions.main(["--dsn", store_dsn, "unpin", "m", "candidate"]) == 2
    assert "has no alias 'candidate'" in capsys.readouterr().err
    assert versions.main(["--dsn", store_dsn, "pin", "m", "Bad Name", str(v1)]) == 2
    assert "is not a name" in capsys.readouterr().err
    assert versions.main(["--dsn", store_dsn, "pin", "m", "candidate", str(v1)]) == 0
    listed = versions.main(["--dsn", store_dsn, "list", "m"])
    out = json.loads(capsys.readouterr().out.split("\n}\n", 1)[1])
    assert listed == 0 and out["aliases"] == {"candidate": v1}
    assert out["versions"][0]["aliases"] == ["candidate"] and out["moves"][-1]["to"] == v1


def test_pruning_keeps_aliased_and_recent_production_versions(store_dsn):
    ids = []
    for i in range(12):
        vid = publish(store_dsn, {"a": 1.0}, keep=2)
        ids.append(vid)
        if i in (0, 3, 5, 6):  # production moved to these, in this order
            versions.set_alias(store_dsn, "m", "production", vid, by="command")
        if i == 1:
            versions.set_alias(store_dsn, "m", "pinned", vid, by="command")
    publish(store_dsn, {"a": 1.0}, keep=2)  # prune once more, after every move
    listed = {v["id"] for v in modelstore.list_versions(store_dsn, "m")}
    # pinned (1), production now and the two before (6, 5, 3), and the newest 2 others.
    assert {ids[1], ids[3], ids[5], ids[6]} <= listed and ids[0] not in listed
    assert len(listed - {ids[1], ids[3], ids[5], ids[6]}) == 2
