"""dlexp's Hydra configs, shipped as the package ``dlexp.conf`` (``pkg://dlexp.conf``).

Hydra imports this package before it composes a config, so this is where dlexp's launcher
(``hydra/launcher=dlexp``, the default for ``-m`` sweeps) is registered: the ConfigStore
entry, and the class for Hydra's plugin registry, which an editable install hides from
Hydra's own plugin scan.
"""

from hydra_plugins.dlexp_launcher.stack_launcher import register

register()
