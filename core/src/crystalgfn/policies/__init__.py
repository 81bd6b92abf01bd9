"""Built-in policies, registered through the same hook third-party policies use.

The classes live in :mod:`crystalgfn.policy`; they are registered by reference, so listing
plugins imports no torch.
"""

from crystalgfn.hookspecs import hookimpl

#: registered name -> "module:class", imported (with torch) only when the policy is built
BUILTIN_POLICIES = {
    "mlp": "crystalgfn.policy:MLPPolicy",
    "uniform": "crystalgfn.policy:UniformPolicy",
}


@hookimpl
def register_policies(register):
    for name, reference in BUILTIN_POLICIES.items():
        register(reference, name=name)
