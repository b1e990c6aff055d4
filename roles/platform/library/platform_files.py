#!/usr/bin/python
# Apache-2.0 (see the repository)
"""A role's directories and small files on a host, in one module run."""

DOCUMENTATION = r"""
module: platform_files
short_description: A role's directories and small files on a host, in one module run
description:
  - Makes each path in O(paths), in order, what it says: a directory, a file with the
    given content, or nothing. Owner, group and mode are set on what exists.
  - One module run for all of a role's configuration, where ansible.builtin.file and
    ansible.builtin.template would take one per directory and two per file, even with
    nothing to change (README "Faster runs"). The content is rendered on the controller,
    usually by the ansible.builtin.template lookup.
  - A file is replaced atomically (written beside it, then renamed), after O(paths[].validate)
    passed on the new content.
  - Check mode reports what would change; diff mode shows each file's change. A task
    that writes a secret sets C(no_log), as it would with ansible.builtin.template.
options:
  paths:
    description: What each path must be, made in this order (a directory before its files).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description:
          - V(directory) (created with its parents), V(file) (needs O(paths[].content)) or
            V(absent).
        type: str
        choices: [directory, file, absent]
        default: file
      content:
        description: The file's whole content (text).
        type: str
      mode:
        description: Octal mode, such as V("0644").
        type: str
      owner:
        description: User name or numeric ID; default O(owner).
        type: str
      group:
        description: Group name or numeric ID; default O(group).
        type: str
      validate:
        description: Command run on the new content before it replaces the file; V(%s) is its path.
        type: str
  owner:
    description: The owner of every path that names none.
    type: str
  group:
    description: The group of every path that names none.
    type: str
"""

RETURN = r"""
changed_paths:
  description: The paths this run created, rewrote, removed or whose owner, group or mode it set.
  type: list
  elements: str
  returned: always
"""

# Imports after the documentation, as in every Ansible module.
import grp  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def _uid(owner):
    if owner is None:
        return -1
    return int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid


def _gid(group):
    if group is None:
        return -1
    return int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid


def _mode(module, spec):
    if spec["mode"] is None:
        return None
    try:
        return int(str(spec["mode"]), 8)
    except ValueError:
        module.fail_json(
            msg=f"{spec['path']}: mode {spec['mode']!r} is not octal. Fix: write it as a quoted "
            'octal string, such as "0644".'
        )


def _attrs_differ(st, uid, gid, mode):
    return (
        (uid != -1 and st.st_uid != uid)
        or (gid != -1 and st.st_gid != gid)
        or (mode is not None and stat.S_IMODE(st.st_mode) != mode)
    )


def _set_attrs(path, uid, gid, mode):
    os.chown(path, uid, gid, follow_symlinks=False)
    if mode is not None:
        os.chmod(path, mode)


def _directory(module, spec, uid, gid, mode):
    path = spec["path"]
    if os.path.isdir(path):
        if not _attrs_differ(os.stat(path), uid, gid, mode):
            return False
    elif os.path.lexists(path):
        module.fail_json(
            msg=f"{path} exists and is not a directory. Fix: move it away, then run again."
        )
    elif not module.check_mode:
        os.makedirs(path, exist_ok=True)
    if not module.check_mode:
        _set_attrs(path, uid, gid, mode)
    return True


def _file(module, spec, uid, gid, mode, diffs):
    path, content = spec["path"], spec["content"]
    if content is None:
        module.fail_json(msg=f"{path}: state=file needs content.")
    new = content.encode("utf-8")
    old = None
    if os.path.isdir(path):
        module.fail_json(msg=f"{path} is a directory. Fix: remove it, then run again.")
    if os.path.lexists(path):
        with open(path, "rb") as f:
            old = f.read()
    if old == new:
        if not _attrs_differ(os.stat(path), uid, gid, mode):
            return False
        if not module.check_mode:
            _set_attrs(path, uid, gid, mode)
        return True
    if module._diff:
        before = "" if old is None else old.decode("utf-8", "replace")
        diffs.append(
            {"before_header": path, "after_header": path, "before": before, "after": content}
        )
    if module.check_mode:
        return True
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        module.fail_json(
            msg=f"{path}: its directory {directory} does not exist. Fix: list the directory "
            "first, with state=directory."
        )
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".platform_files.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
        if mode is None:  # as the template module: the old file's mode, else 0644
            mode = stat.S_IMODE(os.stat(path).st_mode) if old is not None else 0o644
        _set_attrs(tmp, uid, gid, mode)
        if spec["validate"]:
            if "%s" not in spec["validate"]:
                module.fail_json(msg=f"{path}: validate must name the file as %s.")
            argv = [a.replace("%s", tmp) for a in shlex.split(spec["validate"])]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(
                    msg=f"{path}: the new content failed validation ({spec['validate']}); the "
                    "file was left as it was.",
                    rc=rc,
                    stdout=out,
                    stderr=err,
                )
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return True


def _absent(module, spec):
    path = spec["path"]
    if not os.path.lexists(path):
        return False
    if not module.check_mode:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "paths": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {
                        "type": "str",
                        "choices": ["directory", "file", "absent"],
                        "default": "file",
                    },
                    "content": {"type": "str"},
                    "mode": {"type": "str"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "validate": {"type": "str"},
                },
            },
            "owner": {"type": "str"},
            "group": {"type": "str"},
        },
        supports_check_mode=True,
    )
    changed, diffs = [], []
    for spec in module.params["paths"]:
        if not os.path.isabs(spec["path"]):
            module.fail_json(msg=f"{spec['path']}: not an absolute path.")
        if spec["state"] == "absent":
            done = _absent(module, spec)
        else:
            try:
                uid = _uid(spec["owner"] if spec["owner"] is not None else module.params["owner"])
                gid = _gid(spec["group"] if spec["group"] is not None else module.params["group"])
            except KeyError as exc:
                module.fail_json(msg=f"{spec['path']}: no such user or group on this host ({exc}).")
            mode = _mode(module, spec)
            if spec["state"] == "directory":
                done = _directory(module, spec, uid, gid, mode)
            else:
                done = _file(module, spec, uid, gid, mode, diffs)
        if done:
            changed.append(spec["path"])
    module.exit_json(changed=bool(changed), changed_paths=changed, diff=diffs)


if __name__ == "__main__":
    main()
