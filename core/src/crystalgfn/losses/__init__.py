"""Built-in training objectives, registered through the same hook third-party losses use."""

from crystalgfn.hookspecs import hookimpl
from crystalgfn.losses.detailed_balance import DetailedBalance
from crystalgfn.losses.flow_matching import FlowMatching
from crystalgfn.losses.log_partition_variance import LogPartitionVariance
from crystalgfn.losses.subtrajectory_balance import SubTrajectoryBalance
from crystalgfn.losses.trajectory_balance import TrajectoryBalance

BUILTIN_LOSSES = (TrajectoryBalance, DetailedBalance, SubTrajectoryBalance, FlowMatching, LogPartitionVariance)


@hookimpl
def register_losses(register):
    for loss in BUILTIN_LOSSES:
        register(loss)
