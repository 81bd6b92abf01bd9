"""Built-in training objectives, registered through the same hook third-party losses use."""

from crystalgfn.hookspecs import hookimpl
from crystalgfn.losses.trajectory_balance import TrajectoryBalance


@hookimpl
def register_losses(register):
    register(TrajectoryBalance)
