"""Which platform images a host no longer needs (image_ship's prune step)."""


def image_ship_stale(images, containers, built, keep=2):
    """Tags to remove so that each platform image keeps `keep` versions on a host.

    images: the engine's images (docker_host_info, verbose); containers: its containers,
    stopped ones too; built: image_build's result {name: {repo, ref, id}}. Per image, the
    version being deployed (built[name].id) and the newest others up to `keep` in total
    stay (the previous one is what a rollback runs), and so does any version a container
    uses. Only tags in a platform repository are returned; other images are never touched.
    """
    used = {c.get("ImageID") for c in containers}
    stale = []
    for entry in built.values():
        prefix = entry["repo"] + ":"
        versions = sorted(
            (i for i in images if any(t.startswith(prefix) for t in i.get("RepoTags") or [])),
            key=lambda i: (i["Id"] == entry["id"], i.get("Created", 0)),
            reverse=True,
        )
        for image in versions[max(int(keep), 1) :]:
            if image["Id"] not in used:
                stale += [t for t in image["RepoTags"] if t.startswith(prefix)]
    return sorted(stale)


class FilterModule:
    def filters(self):
        return {"image_ship_stale": image_ship_stale}
