"""Read what an ansible-playbook run changed from its output (no colour, default callback).

{{ run.stdout | changed_per_host }}   -> {host: number of changed tasks} (its PLAY RECAP)
{{ run.stdout | changed_tasks }}      -> {host: [each task or handler that changed on it]}
"""

import re

_RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", re.MULTILINE)
_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$")
_CHANGED = re.compile(r"^changed: \[([^\]\s]+)")


def changed_per_host(stdout):
    return {host: int(changed) for host, changed in _RECAP.findall(stdout)}


def changed_tasks(stdout):
    out, task = {}, ""
    for line in stdout.splitlines():
        if match := _TASK.match(line):
            task = match.group(1)
        elif match := _CHANGED.match(line):
            tasks = out.setdefault(match.group(1), [])
            if task not in tasks:
                tasks.append(task)
    return out


class FilterModule:
    def filters(self):
        return {"changed_per_host": changed_per_host, "changed_tasks": changed_tasks}
