"""A complete Crystal-GFN proxy plugin: the volume per atom of a crystal, in Å³/atom."""

import crystalgfn
from crystalgfn.geometry import cell_volume


class VolumePerAtom(crystalgfn.Proxy):
    """Cell volume divided by the number of atoms in the cell."""

    name = "volume_per_atom"
    requires = ("composition", "lattice")
    unit = "Å³/atom"

    def predict(self, batch):
        atoms = batch["composition"].sum(dim=1).double()
        return (cell_volume(batch["lattice"]) / atoms).float()


@crystalgfn.hookimpl
def register_proxies(register):
    register(VolumePerAtom)
