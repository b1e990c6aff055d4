"""Mitogen's linear strategy, by name: ``ANSIBLE_STRATEGY=mitogen_linear`` (opt-in).

Mitogen (pinned in requirements.txt) keeps one Python interpreter per host for the whole
run and sends each module's code once, where Ansible's own strategies start a fresh
interpreter and import the module's code again for every task. The order of tasks and
hosts is linear's. README.md ("Faster runs") says when to use it, and
benchmarks/images.py measures both strategies side by side.
"""

# As Mitogen's own proxy module does: its loaders first, and linear through Ansible's
# plugin loader, so that no class exists twice.
import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
