"""Built-in training objectives, registered through the same hook third-party losses use."""

from crystalgfn.hookspecs import hookimpl

#: registered name -> "module:class", imported (with torch) only when the loss is built
BUILTIN_LOSSES = {
    "tb": "crystalgfn.losses.trajectory_balance:TrajectoryBalance",
    "db": "crystalgfn.losses.detailed_balance:DetailedBalance",
    "subtb": "crystalgfn.losses.subtrajectory_balance:SubTrajectoryBalance",
    "fm": "crystalgfn.losses.flow_matching:FlowMatching",
    "vargrad": "crystalgfn.losses.log_partition_variance:LogPartitionVariance",
}


@hookimpl
def register_losses(register):
    for name, reference in BUILTIN_LOSSES.items():
        register(reference, name=name)
